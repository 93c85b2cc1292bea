"""Plain requests answered on the compiled path: a parse, a shape check, the ids, a template
filled and one write (``engine._compiled``; a route's ``plain`` compiles its answer).

Everything a plain request leaves behind is what the general path leaves: the same bytes, the
same journal entry, counters and kept response (``tests/server/test_plain_path.py``).
"""

from __future__ import annotations

from typing import Any

from llmfake.engine._engine import Engine, TenantState
from llmfake.engine._plan import Plan
from llmfake.journal import Exchange
from llmfake.providers import InvalidRequest, PlainRoute, Route
from llmfake.server._http import Connection
from llmfake.server._http_message import Request
from llmfake.server._request_body import incoming, journal_body
from llmfake.server._wire import Finish, body_at, write_body
from llmfake.ui._kept import keep


def answer_plain(req: Request, conn: Connection, route: Route, engine: Engine,
                 state: TenantState, path: str, body: Any, exchange: Exchange, start: float,
                 finish: Finish) -> bool | Plan:
    """Answer ``req`` (its parsed ``body``) on the compiled path: True once answered; for a
    stream, its plan, decided, for the general path to put on the wire; False, with nothing
    done, when the request or its tenant's scenario is not plain."""
    plain = engine.plain(state)
    if plain is None:
        return False
    key = (req.method, path)
    routes = plain.routes
    if key in routes:
        answer: PlainRoute | None = routes[key]
    else:
        assert route.plain is not None  # the router's plain table holds no other route
        answer = routes[key] = route.plain(plain)
    if answer is None:
        return False
    shape = answer.shape(body)
    if shape is None:
        return False
    model, model_json, prompt, stream = shape
    if stream:  # the stream's own events are rendered the general way, from its plan
        try:
            call = route.parse(incoming(req, path, {}, body, state.name))
        except InvalidRequest:  # not plain after all: the general path says why
            return False
    exchange.provider, exchange.endpoint = route.provider, route.endpoint
    journal_body(state, exchange, req.method, path, req.body, body)
    exchange.model = model
    if stream:
        exchange.stream = True
        return engine.plan_plain(state, plain, call, prompt)
    ordinal, uid, request_id, choice = engine.decide_plain(state, plain)
    exchange.seq = ordinal
    exchange.outcome, exchange.source = "reply", "default"
    due = plain.timing.total(len(choice.tokens)) if plain.waits else 0.0
    rendered = answer.render(uid, request_id, plain.created(), model_json, prompt, choice, due)
    exchange.response_text = rendered.text
    keep(exchange, plain.kept, rendered)
    exchange.status = rendered.status
    if due:
        body_at(conn, rendered, start + due, exchange, finish)
    else:
        write_body(conn, rendered, exchange, finish)
    return True
