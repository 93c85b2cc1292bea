"""Tokens, token counts, seeded text and deterministic embedding vectors.

The token estimate (documented in docs/scenarios.md): a token is a run of up to 10 letters, up
to 3 digits, or one other visible character, each with the white space before it; trailing white
space is a token of its own. Concatenating the tokens of a text gives the text back, so a stream
sends exactly one token per chunk and ``usage.completion_tokens`` counts the chunks. A chat
prompt counts 3 tokens per message plus 3, as OpenAI's own estimate does.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable

from llmfake.engine._draws import below
from llmfake.engine._embedding import embedding as embedding  # cheap vectors: issue 19
from llmfake.engine._words import WORDS as _WORDS

_TOKEN = re.compile(r"\s*(?:[^\W\d_]{1,10}|\d{1,3}|[^\w\s]|_)|\s+")


def tokenize(text: str) -> tuple[str, ...]:
    """Cut ``text`` into tokens whose concatenation is ``text``."""
    if len(text) <= _CACHED_TEXT:
        return _tokenize_cached(text)
    return tuple(_TOKEN.findall(text))


_CACHED_TEXT = 4096
"""Texts up to this long are tokenized once: a scenario's fixed reply and a test's prompt come
back with every request (the regex costs ~10 us for 50 tokens), and the cache stays small."""


@functools.lru_cache(maxsize=1024)
def _tokenize_cached(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text))


def count_tokens(text: str) -> int:
    """How many tokens ``text`` is, by the estimate above."""
    if len(text) <= _CACHED_TEXT:
        return len(_tokenize_cached(text))
    return sum(1 for _ in _TOKEN.finditer(text))


def prompt_tokens(texts: Iterable[str]) -> int:
    """Tokens of a chat prompt: each message's tokens plus 3, plus 3 for the reply's priming."""
    return sum(count_tokens(t) + 3 for t in texts) + 3


def generated_text(rng: random.Random, *, sentences: int | None = None,
                   words: int | None = None) -> str:
    """Seeded English-like text from the fixed word list (same rng state, same text)."""
    return generated(rng, sentences=sentences, words=words)[0]


def generated(rng: random.Random, *, sentences: int | None = None,
              words: int | None = None) -> tuple[str, tuple[str, ...]]:
    """``generated_text`` and its tokens (what ``tokenize`` gives for it, without the regex).

    Draws exactly what ``rng.choice(WORDS)`` and ``rng.randint`` draw (CPython's rejection
    sampling on ``getrandbits``: the same bits, the same words), each batch of words in one
    call (see ``_draws.below``): the method calls were a third of a request's cost.
    """
    bits = rng.getrandbits
    if words is not None:
        picked = below(bits, _N_WORDS, words)
        return _sentence(picked, _FIRST_TOKENS)
    if sentences is None:
        r = bits(2)  # randint(1, 3)
        while r >= 3:
            r = bits(2)
        sentences = 1 + r
    texts: list[str] = []
    tokens: list[str] = []
    first = _FIRST_TOKENS
    for _ in range(sentences):
        length = bits(4)  # randint(4, 12)
        while length >= 9:
            length = bits(4)
        text, toks = _sentence(below(bits, _N_WORDS, 4 + length), first)
        texts.append(text)
        tokens += toks
        first = _NEXT_FIRST_TOKENS  # later sentences start after a space
    return " ".join(texts), tuple(tokens)


def _sentence(picked: list[int], first: tuple[tuple[str, ...], ...]
              ) -> tuple[str, tuple[str, ...]]:
    """The sentence of the words ``picked`` (indexes into the word list), and its tokens."""
    table = _LOWER_WORDS
    text = " ".join([table[i] for i in picked]).capitalize() + "."
    tokens = list(first[picked[0]]) if picked else []
    spaced = _SPACED_TOKENS
    for i in picked[1:]:
        tokens += spaced[i]
    tokens.append(".")
    return text, tuple(tokens)


_N_WORDS = len(_WORDS)
# A sentence is its words joined by spaces, capitalised (the rest lower-cased), with a full
# stop: each word's tokens as it appears there, worked out once.
_LOWER_WORDS = tuple(w.lower() for w in _WORDS)
_FIRST_TOKENS = tuple(tuple(_TOKEN.findall(w.capitalize())) for w in _LOWER_WORDS)
_NEXT_FIRST_TOKENS = tuple(tuple(_TOKEN.findall(" " + w.capitalize())) for w in _LOWER_WORDS)
_SPACED_TOKENS = tuple(tuple(_TOKEN.findall(" " + w)) for w in _LOWER_WORDS)


def cut(
    text: str, stop: Iterable[str], max_tokens: int | None, tokens: tuple[str, ...] | None = None
) -> tuple[str, tuple[str, ...], bool, str | None]:
    """Apply stop sequences, then the token limit (``tokens``: ``text``'s, when known).

    Returns (text, tokens, hit the limit, the stop sequence that cut it). A model stops as
    soon as its output ends with a stop sequence, so the match that *ends* first wins.
    """
    matches = [(at + len(s), at, s) for s in stop if s and (at := text.find(s)) >= 0]
    hit: str | None = None
    if matches:
        _, at, hit = min(matches)
        text = text[:at]
        tokens = None
    if tokens is None:
        tokens = tokenize(text)
    if max_tokens is not None and len(tokens) > max_tokens:
        tokens = tokens[:max_tokens]
        return "".join(tokens), tokens, True, None
    return text, tokens, False, hit
