"""The capacity slots and queue in Redis: instances sharing a state backend share them.

Keys of tenant ``T`` (beside the state backend's own): ``N:T:{T}:cap`` (hash: ``busy`` slots
held, ``queued`` requests waiting that no slot was handed to yet) and ``N:T:{T}:capq`` (list:
one element per slot handed to a waiting request but not yet picked up). Taking a slot and
freeing one are atomic scripts; a waiting request blocks on the list (``BLPOP``, which Redis
serves first blocked, first served), so a slot freed on one instance goes to a request waiting
on any other, with no polling. A freed slot with requests waiting is handed over (pushed on the
list), never freed: a newcomer cannot overtake the queue.

An instance killed with slots held cannot give them back; both keys expire a few minutes after
the last request took or freed a slot, so such slots come back then (or when Redis restarts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from llmfake.engine._redis import RedisState
    from llmfake.scenario._model import Capacity

_TTL_MS = 300_000  # how long slots an instance died with stay taken, at most
_POLL = 0.5  # seconds a waiting request blocks before it checks whether its client left

TAKE = """
-- KEYS: 1 capacity hash, 2 hand-over list.  ARGV: 1 slots, 2 queue (-1: any), 3 ttl ms
local busy = tonumber(redis.call('HGET', KEYS[1], 'busy') or '0')
local queued = tonumber(redis.call('HGET', KEYS[1], 'queued') or '0')
local q = tonumber(ARGV[2])
local out
if busy < tonumber(ARGV[1]) and queued == 0 and redis.call('LLEN', KEYS[2]) == 0 then
  out = {'slot', redis.call('HINCRBY', KEYS[1], 'busy', 1)}
elseif q < 0 or queued < q then
  out = {'queued', redis.call('HINCRBY', KEYS[1], 'queued', 1)}
else
  return {'full', busy}
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return out
"""

GIVE_BACK = """
-- KEYS: 1 capacity hash, 2 hand-over list.  ARGV: 1 slots, 2 ttl ms
local busy = tonumber(redis.call('HGET', KEYS[1], 'busy') or '0')
local queued = tonumber(redis.call('HGET', KEYS[1], 'queued') or '0')
if queued > 0 and busy <= tonumber(ARGV[1]) then
  redis.call('HINCRBY', KEYS[1], 'queued', -1)
  redis.call('RPUSH', KEYS[2], busy)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
elseif busy > 0 then
  redis.call('HINCRBY', KEYS[1], 'busy', -1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

LEAVE = """
-- KEYS: 1 capacity hash, 2 hand-over list.  ARGV: 1 slots, 2 ttl ms
-- A waiting request gives up. Every waiting request is counted in 'queued' or has a slot on
-- the list: leave the count if it holds one, else take a slot off the list and free it.
local queued = tonumber(redis.call('HGET', KEYS[1], 'queued') or '0')
if queued > 0 then
  redis.call('HINCRBY', KEYS[1], 'queued', -1)
  return 0
end
if redis.call('LPOP', KEYS[2]) then
  local busy = tonumber(redis.call('HGET', KEYS[1], 'busy') or '0')
  if busy > 0 then redis.call('HINCRBY', KEYS[1], 'busy', -1) end
end
return 1
"""


class RedisSlots:
    """The slots of every tenant, in the Redis of ``state``."""

    def __init__(self, state: RedisState) -> None:
        self.state = state
        self._scripts: dict[int, dict[str, AsyncScript]] = {}

    def _keys(self, tenant: str) -> list[str]:
        base = f"{self.state.namespace}:T:{tenant}:cap"
        return [base, base + "q"]

    async def _run(self, script: str, tenant: str, args: list[Any]) -> Any:
        client = self.state._client()[0]
        scripts = self._scripts.get(id(client))
        if scripts is None:  # registered once per client: EVALSHA from then on
            scripts = {text: client.register_script(text) for text in (TAKE, GIVE_BACK, LEAVE)}
            self._scripts = {id(client): scripts}
        try:
            return await scripts[script](keys=self._keys(tenant), args=args)
        except Exception as exc:
            raise self.state.unavailable(exc) from exc

    async def take(self, tenant: str, cap: Capacity) -> tuple[str, int]:
        """``('slot', busy)``, ``('queued', waiting)`` or ``('full', busy)``."""
        queue = -1 if cap.queue is None else cap.queue
        kind, n = await self._run(TAKE, tenant, [cap.slots, queue, _TTL_MS])
        return kind.decode(), int(n)

    async def wait(self, tenant: str) -> int | None:
        """Block up to a moment for a slot handed to a waiting request of ``tenant``: the
        busy slots with it, or None (none yet)."""
        client = self.state._client()[0]
        try:
            got = await client.blpop([self._keys(tenant)[1]], timeout=_POLL)
        except Exception as exc:
            raise self.state.unavailable(exc) from exc
        return None if got is None else int(got[1])

    async def give_back(self, tenant: str, cap: Capacity) -> None:
        """Free a slot (hand it to the longest waiting request, on any instance)."""
        await self._run(GIVE_BACK, tenant, [cap.slots, _TTL_MS])

    async def leave(self, tenant: str, cap: Capacity) -> None:
        """A waiting request gives up (see ``LEAVE``)."""
        await self._run(LEAVE, tenant, [cap.slots, _TTL_MS])
