"""Where a request stands in an agent loop, read from the request alone, and tool calls that
fit it.

An agent loop is a series of requests, each holding the whole conversation so far: the user's
question, then for every model turn the assistant's message (text, tool calls or both) and the
tool results the client sends back. Matching on what a request *holds* rather than on how many
requests came before keeps it stateless: concurrent conversations, retried requests and
replays all line up, and a conversation is told apart by its own content.

Every provider's parse reads its wire format into the same neutral ``Message`` fields
(``calls`` on assistant messages, ``results`` on tool messages), so these rules read the same
for OpenAI chat and responses, Anthropic, Gemini and Ollama:

- **turns**: the assistant turns the conversation holds; consecutive assistant messages are
  one turn (the Responses API sends each function call as an item of its own).
- **the results sent back**: the tool results after the last assistant turn. A result's tool
  name is the one the provider sends with it (Gemini, Ollama's ``tool_name``, OpenAI's legacy
  ``function`` role); else the name of the call whose id it answers (OpenAI ``tool_call_id``,
  Responses ``call_id``, Anthropic ``tool_use_id``); else, for clients that send neither, the
  call in the same position in the last assistant turn.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Iterator

from llmfake.engine._call import Call, Message, ToolResult
from llmfake.scenario._model import CallTool, ResultMatch, TurnMatch


def turns(call: Call) -> int:
    """How many assistant turns ``call``'s conversation already holds."""
    count, previous = 0, ""
    for message in call.messages:
        if message.role == "assistant" and previous != "assistant":
            count += 1
        previous = message.role
    return count


def results_sent_back(call: Call) -> tuple[ToolResult, ...]:
    """The tool results after the last assistant turn, each with its tool's name where it can
    be known (see the module docstring); empty when the request answers no tool call."""
    messages = call.messages
    last = len(messages)
    while last > 0 and messages[last - 1].role != "assistant":
        last -= 1
    batch = [r for m in messages[last:] if m.role == "tool" for r in m.results]
    if not batch:
        return ()
    made = [c for m in _last_turn(messages, last) for c in m.calls]
    by_id = {call_id: name for m in messages for call_id, name in m.calls if call_id}
    out = []
    for index, result in enumerate(batch):
        name = result.name
        if name is None and result.call_id is not None:
            name = by_id.get(result.call_id)
        if name is None and index < len(made):
            name = made[index][1]
        out.append(result if name == result.name else
                   ToolResult(result.content, result.call_id, name))
    return tuple(out)


def _last_turn(messages: tuple[Message, ...], end: int) -> Iterator[Message]:
    """The assistant messages of the turn that ends at ``end`` (exclusive)."""
    start = end
    while start > 0 and messages[start - 1].role == "assistant":
        start -= 1
    return iter(messages[start:end])


def fits(match: TurnMatch, call: Call) -> bool:
    """Whether ``call`` fits the turn, tool-result and offered-tool keys of a rule's match."""
    if match.turn is not None and turns(call) != match.turn:
        return False
    if match.offered:
        names = [tool.name for tool in call.tools]
        for pattern in match.offered:
            if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
                return False
    if match.result is not None:
        return any(_result_fits(match.result, r) for r in results_sent_back(call))
    return True


def _result_fits(match: ResultMatch, result: ToolResult) -> bool:
    if match.name is not None and not fnmatch.fnmatchcase(result.name or "", match.name):
        return False
    if match.id is not None and not fnmatch.fnmatchcase(result.call_id or "", match.id):
        return False
    if match.contains is not None and match.contains.lower() not in result.content.lower():
        return False
    return match.regex is None or match.regex.search(result.content) is not None


def fitted_calls(spec: CallTool, call: Call, rng: random.Random) -> list[str]:
    """The names of the tools a ``call_tool`` reply calls in answer to ``call``: none when it
    offers no fitting tool, or (without ``loop``) when it sends tool results back, so that an
    agent loop ends with text."""
    names = [tool.name for tool in call.tools]
    if not names:
        return []
    back = results_sent_back(call)
    if back and not spec.loop:
        return []
    if spec.tool == "seeded":
        return [rng.choice(names) for _ in range(spec.count)]
    if spec.tool in ("first", "next"):
        start = 0
        last = back[-1].name if back else None
        if spec.tool == "next" and last in names:
            start = names.index(last) + 1
        return [names[(start + i) % len(names)] for i in range(spec.count)]
    return [spec.tool] * spec.count if spec.tool in names else []
