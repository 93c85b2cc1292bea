"""The ``redis`` state backend: every instance on one Redis is one provider.

One round trip per request: ``reserve`` runs one Lua script (``_redis_lua.RESERVE``) that checks
the tenant's scenario version, takes the ordinal, admits the request under the limits, draws
chaos and moves the rule's cursor, all atomically, so the order of requests is the order in
which they reach Redis whichever instance took them. When the scenario changed (a PUT or a
reset on any instance) the script answers the new one instead, and the request is reserved
again under it: one more round trip, once per change.

What the end of a response does (free the concurrency slot, charge the reply's tokens, append
the exchange to the journal stream) is one pipelined round trip the response does not wait for.
The journal is a Redis Stream per tenant, trimmed to about ``journal_size`` entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from llmfake.engine._limits import Admission, Bucket
from llmfake.engine._plan import RateLimit
from llmfake.engine._redis_lua import FINISH, PUT, RESERVE
from llmfake.engine._state import Ask, Reservation
from llmfake.errors import StateError
from llmfake.scenario._load import scenario_from_dict
from llmfake.scenario._model import ErrorSpec, LimitHit, Limits

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript

    from llmfake.engine._call import Call
    from llmfake.engine._engine import Engine, TenantState
    from llmfake.journal import Exchange
    from llmfake.scenario._model import Scenario

_LOG = logging.getLogger("llmfake.state")
_STALE = b"stale"


def check_url(url: str) -> str:
    """``url`` if it is a redis:// (or rediss://, unix://) URL, else a ``ValueError`` saying what
    is expected."""
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"state {url!r}: expected 'memory', 'redis' or a URL such as "
                         "redis://127.0.0.1:6379/0")
    return url


class RedisState:
    """The state of every tenant in the Redis at ``url``, for instances started with the
    ``base`` scenario.

    Its keys start with ``llmfake:<fingerprint of the base scenario and seed>``: instances
    started with one scenario are one provider, and one started with another is another
    provider on the same Redis, which neither clears nor disturbs the first. A restart with
    the same scenario carries on where the provider was."""

    def __init__(self, url: str, base: Scenario, *, journal_size: int = 10_000) -> None:
        self.url = check_url(url)
        """Where the state lives."""
        fingerprint = hashlib.sha1(json.dumps([dict(base.raw), base.seed], default=str,
                                              sort_keys=True).encode()).hexdigest()[:12]
        self.namespace = f"llmfake:{fingerprint}"
        """The prefix of its keys."""
        self.journal_size = journal_size
        self._clients: dict[int, tuple[aioredis.Redis, AsyncScript, AsyncScript, AsyncScript]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended: list[tuple[str, tuple[list[str], list[Any]] | None, bytes]] = []

    # --- connection (one client per event loop: redis-py's asyncio client is loop-bound) --

    def _client(self) -> tuple[aioredis.Redis, AsyncScript, AsyncScript, AsyncScript]:
        loop = asyncio.get_running_loop()
        found = self._clients.get(id(loop))
        if found is None:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2,
                                             socket_timeout=5, health_check_interval=30)
            found = (client, client.register_script(RESERVE), client.register_script(FINISH),
                     client.register_script(PUT))
            self._clients = {id(loop): found}  # an old loop's client died with its loop
            self._loop = loop
        return found

    def forget(self, tenant: str) -> None:
        """Delete ``tenant``'s keys (its scenario, counters and journal) on every instance;
        callable from any thread (the pytest plugin drops each test's tenant)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        keys = [self._key(tenant, what) for what in ("sc", "st", "j", "cap", "capq")]

        def start() -> None:
            task = loop.create_task(self._unlink(keys))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(start)

    async def _unlink(self, keys: list[str]) -> None:
        try:
            await self._client()[0].unlink(*keys)
        except Exception as exc:
            _LOG.warning("%s", self.unavailable(exc))

    async def connect(self) -> None:
        """Check that Redis answers (a clear error at start-up instead of at the first
        request)."""
        try:
            await self._client()[0].ping()
        except Exception as exc:
            raise self.unavailable(exc) from None

    async def close(self) -> None:
        """Wait for the journal writes under way, and close the connection."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        for client, *_ in list(self._clients.values()):
            await client.aclose()
        self._clients.clear()

    def unavailable(self, exc: BaseException) -> StateError:
        """The error a request gets when Redis fails it."""
        return StateError(f"llmfake: the shared state at {self.url} is unavailable "
                                f"({type(exc).__name__}: {exc}); start Redis there or serve "
                                "with --state memory")

    def _key(self, tenant: str, what: str) -> str:
        return f"{self.namespace}:T:{tenant}:{what}"

    # --- the hot path -----------------------------------------------------------------------

    async def reserve(self, engine: Engine, call: Call) -> tuple[Reservation, Ask, int]:
        """Reserve ``call`` in one round trip (two when the scenario changed meanwhile)."""
        state = engine.tenant(call.tenant)
        _, reserve, _, _ = self._client()
        if state.scenario.limits.max_concurrent is not None and self._pending:
            # Slots this instance freed must be free before it admits again (a client that
            # got its answer and asks again must find its slot): wait for those writes.
            await asyncio.gather(*self._pending, return_exceptions=True)
        for _ in range(5):
            sc = state.scenario
            ask, prompt = engine.ask(state, call)
            keys, args = self._reserve_args(state, sc, ask, call)
            try:
                out = await reserve(keys=keys, args=args)
            except Exception as exc:
                raise self.unavailable(exc) from exc
            if out[0] == _STALE:
                self._adopt(engine, state, out)
                continue
            res = self._reservation(sc, ask, out)
            if res.position >= 0:
                # Mirrored here for what reads the tenant's own state (the pytest plugin's
                # check that every scripted step was used): the furthest this instance saw.
                used = state.script_pos.get(ask.rule, 0)
                state.script_pos[ask.rule] = max(used, res.position + 1)
            return res, ask, prompt
        raise self.unavailable(RuntimeError("the scenario kept changing"))

    def _reserve_args(self, state: TenantState, sc: Scenario, ask: Ask, call: Call
                      ) -> tuple[list[str], list[Any]]:
        lim = sc.limits
        limit_hash, prefix = self._limit_place(call, lim, sc.time_scale)
        rule = sc.rules[ask.rule] if ask.rule >= 0 else None
        args: list[Any] = [
            state.version, int(ask.auth_ok), int(ask.limited), prefix,
            lim.requests_per_minute or 0, lim.tokens_per_minute or 0,
            _or_minus(lim.max_concurrent), _or_minus(lim.quota_requests),
            _or_minus(lim.quota_tokens), repr(60.0 * sc.time_scale), ask.tokens,
            f"{sc.seed}:chaos:", ask.rule, int(bool(rule and rule.script)), len(sc.chaos),
            *(repr(c.probability) for c in sc.chaos)]
        chaos = rule.chaos if rule is not None else ()
        args += [len(chaos), *(repr(c.probability) for c in chaos)]
        return [self._key(call.tenant, "sc"), self._key(call.tenant, "st"), limit_hash], args

    def _limit_place(self, call: Call, lim: Limits, scale: float) -> tuple[str, str]:
        """The hash and field prefix of ``call``'s buckets (the limits' fingerprint is part of
        it, so that new limits count from full buckets, as in memory)."""
        by = lim.by
        key = (f"key:{call.api_key or ''}" if by == "api_key" else
               f"model:{call.model}" if by == "model" else by)
        fp = hashlib.sha1(repr((lim, scale)).encode()).hexdigest()[:10]
        where = f"{self.namespace}:G" if by == "global" else self._key(call.tenant, "st")
        return where, f"L:{fp}:{key}:"

    def _reservation(self, sc: Scenario, ask: Ask, out: list[Any]) -> Reservation:
        kind = out[0].decode()
        res = Reservation(int(out[1]))
        if kind == "auth":
            return res
        if ask.limited:
            res.admission = _admission(sc, ask, out)
            if kind == "limit":
                return res
        res.decided = True
        if kind == "chaos":
            res.chaos = int(out[5])
        elif kind == "rule_chaos":
            res.rule_chaos = int(out[5])
        elif kind == "script":
            res.position = int(out[5])
        return res

    def _adopt(self, engine: Engine, state: TenantState, out: list[Any]) -> None:
        """Put in force the scenario another instance put (or reset) for ``state``."""
        raw = out[2].decode() if out[2] else ""
        sc = (scenario_from_dict(json.loads(raw), f"redis ({state.name})") if raw
              else engine.base)
        since = float(out[3]) if out[3] else time.time()
        state.scenario = sc
        state.local_reset()
        state.version = out[1].decode()
        # The windows' zero, in this instance's monotonic clock.
        state.since = state.clock() - max(0.0, time.time() - since)

    def finish(self, tenant: str, call: Call | None, sc: Scenario, res: Reservation | None,
               exchange: Exchange) -> None:
        """The response is over: free its slot, charge its tokens and journal it, in one
        pipelined round trip the caller does not wait for."""
        admission = res.admission if res is not None else None
        release: tuple[list[str], list[Any]] | None = None
        if call is not None and res is not None and admission is not None \
                and admission.error is None:
            lim = sc.limits
            where, prefix = self._limit_place(call, lim, sc.time_scale)
            release = [where], [prefix, 1, res.charge, lim.tokens_per_minute or 0,
                                repr(60.0 * sc.time_scale)]
        # orjson encodes the dataclass itself: ~20x cheaper than asdict()'s deep copy.
        entry = orjson.dumps(exchange, default=str)
        self._ended.append((tenant, release, entry))
        if len(self._ended) == 1:
            # Every response ending in this loop iteration goes in one pipeline: under load,
            # one round trip for many.
            task = asyncio.get_running_loop().create_task(self._flush())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _flush(self) -> None:
        ended, self._ended = self._ended, []
        try:
            client, _, finish, _ = self._client()
            async with client.pipeline(transaction=False) as pipe:
                for tenant, release, entry in ended:
                    if release is not None:
                        await finish(keys=release[0], args=release[1], client=pipe)
                    pipe.xadd(self._key(tenant, "j"), {"e": entry}, maxlen=self.journal_size,
                              approximate=True)
                await pipe.execute()
        except Exception as exc:  # the clients have their answers; say what the journal lost
            _LOG.warning("%s (%d exchanges not journaled)", self.unavailable(exc), len(ended))

    # --- the control API -----------------------------------------------------------------

    async def put(self, tenant: str, sc: Scenario | None) -> str:
        """Put ``sc`` in force for ``tenant`` on every instance (None: reset, keep the
        scenario); returns the new version."""
        _, _, _, put = self._client()
        raw = "" if sc is None else json.dumps(dict(sc.raw), default=str)
        try:
            version = await put(keys=[self._key(tenant, "sc"), self._key(tenant, "st"),
                                      self._key(tenant, "j")], args=[raw])
        except Exception as exc:
            raise self.unavailable(exc) from exc
        return str(version)

    async def scenario(self, tenant: str) -> tuple[str, str]:
        """The version and the JSON of ``tenant``'s scenario ('' when it has the base one)."""
        client = self._client()[0]
        try:
            v, raw = await client.hmget(self._key(tenant, "sc"), ["v", "raw"])
        except Exception as exc:
            raise self.unavailable(exc) from exc
        return _text(v) or "0", _text(raw)

    async def ordinal(self, tenant: str) -> int:
        """Take ``tenant``'s next ordinal (a request refused before it reached the engine)."""
        client = self._client()[0]
        try:
            return int(await client.hincrby(self._key(tenant, "st"), "ord", 1)) - 1
        except Exception as exc:
            raise self.unavailable(exc) from exc

    async def journal(self, tenant: str) -> list[dict[str, Any]]:
        """Every exchange of ``tenant`` journaled by any instance, in the order the requests
        reached the state."""
        client = self._client()[0]
        if self._pending:  # this instance's own exchanges are in it
            await asyncio.gather(*self._pending, return_exceptions=True)
        try:
            entries = await client.xrange(self._key(tenant, "j"))
        except Exception as exc:
            raise self.unavailable(exc) from exc
        items = [orjson.loads(fields[b"e"]) for _, fields in entries or () if fields]
        items.sort(key=lambda e: e["seq"])
        return items


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


def _or_minus(value: int | None) -> int:
    return -1 if value is None else value


def _admission(sc: Scenario, ask: Ask, out: list[Any]) -> Admission:
    """The ``Admission`` the script's answer means (the same as ``Limiter.admit``'s)."""
    lim = sc.limits
    window = 60.0 * sc.time_scale
    req = (Bucket(lim.requests_per_minute, window, float(out[3]))
           if lim.requests_per_minute else None)
    tok = (Bucket(lim.tokens_per_minute, window, float(out[4]))
           if lim.tokens_per_minute else None)
    why = out[2].decode() if out[0] == b"limit" else ""
    error = None
    if why == "quota_requests" and lim.quota_requests is not None:
        error = ErrorSpec("quota", limit_hit=LimitHit("quota", lim.quota_requests))
    elif why == "quota_tokens" and lim.quota_tokens is not None:
        error = ErrorSpec("quota", limit_hit=LimitHit("quota", lim.quota_tokens, ask.tokens))
    elif why == "requests" and req is not None:
        error = ErrorSpec("rate_limit", retry_after=req.wait_for(1),
                          limit_hit=LimitHit("requests", req.capacity))
    elif why == "tokens" and tok is not None:
        error = ErrorSpec("rate_limit", retry_after=tok.wait_for(min(ask.tokens, tok.capacity)),
                          limit_hit=LimitHit("tokens", tok.capacity, ask.tokens))
    elif why == "concurrency" and lim.max_concurrent is not None:
        error = ErrorSpec("rate_limit", retry_after=0.1 * sc.time_scale,
                          limit_hit=LimitHit("concurrency", lim.max_concurrent))
    state = RateLimit(
        requests_limit=req.capacity if req else None,
        requests_remaining=max(0, int(req.level // 1)) if req else 0,
        requests_reset=req.until_full() if req else 0.0,
        tokens_limit=tok.capacity if tok else None,
        tokens_remaining=max(0, int(tok.level // 1)) if tok else 0,
        tokens_reset=tok.until_full() if tok else 0.0,
        now=time.time())
    reason = error.limit_hit.kind if error is not None and error.limit_hit else ""
    return Admission(error, state, "shared", reason)
