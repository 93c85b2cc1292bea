"""Seeded draws made cheap without changing a bit of what they give.

Every draw of the engine comes from a ``random.Random`` seeded with a string (see ``_engine``),
and what users pin in their tests is the bytes those draws make. Two facts of CPython's
Mersenne Twister let the hot path draw the same values for a fraction of the cost:

- ``getrandbits(k)`` with ``k <= 32`` takes one 32-bit output of the generator and keeps its top
  ``k`` bits; ``getrandbits(32 * m)`` returns ``m`` outputs at once, the first in the lowest
  bits. So ``m`` successive small draws are one call and an unpack, as long as no more are
  taken than the caller will use: a later draw must get the output it would have had.
- ``random.Random(text)`` hashes the text with SHA-512 and seeds from the integer made of the
  text followed by its digest; ``seeded`` does the same without random.py's Python-level
  seeding.
"""

from __future__ import annotations

import _random
import hashlib
import random
import string
import struct
import threading
from collections.abc import Callable

ALNUM = string.ascii_letters + string.digits
"""The letters and digits of ids."""
_c_seed = _random.Random.seed
_new = random.Random.__new__
_sha512 = hashlib.sha512


def seeded(text: str) -> random.Random:
    """``random.Random(text)``, the same state bit for bit, made ~2x faster."""
    rng = _new(random.Random)
    _c_seed(rng, _key(text.encode()))
    rng.gauss_next = None  # type: ignore[attr-defined]  # Random.seed() resets it too
    return rng


def _key(text: bytes) -> int:
    """The integer ``random.Random(text)`` seeds from: the text, then its SHA-512 digest."""
    return int.from_bytes(text + _sha512(text).digest(), "big")


def below(bits: Callable[[int], int], n: int, count: int) -> list[int]:
    """``count`` values under ``n``, each what ``bits(k)`` drawn until below ``n`` gives
    (``k = n.bit_length()``, at most 32): the draws of ``rng.choice`` over ``n`` items."""
    shift = 32 - n.bit_length()
    out: list[int] = []
    need = count
    while need:
        words = struct.unpack(f"<{need}I", bits(32 * need).to_bytes(4 * need, "little"))
        out += [v for w in words if (v := w >> shift) < n]
        need = count - len(out)
    return out


# For ids: the top byte of a 32-bit output, shifted right by 2, is what getrandbits(6) gives;
# 62 and 63 (top bytes 248-255) are rejected by choice() over the 62 letters and digits.
_ID_LETTERS = bytes(ord(ALNUM[b >> 2]) if b < 248 else 0 for b in range(256))
_ID_REJECTED = bytes(range(248, 256))
_ids_rng = threading.local()
"""Each thread's generator for ids, reseeded for every request: a new one each time costs its
2.5 KB of state allocated and brought into the cache (~2 us a request under load)."""
_ID_WORDS = 48  # 29 letters, the 4 words of the request id, and room for 15 rejections


def ids(seed: int, ordinal: int) -> tuple[str, str]:
    """The uid (29 letters and digits) and request id (``req_`` and 32 hex digits) of request
    ``ordinal``: what ``rng.choice(ALNUM)`` 29 times then ``rng.getrandbits(128)`` give from
    ``random.Random(f"{seed}:ids:{ordinal}")``."""
    rng = _ids_rng.__dict__.get("rng")
    if rng is None:
        rng = _ids_rng.rng = _random.Random()
    _c_seed(rng, _key(f"{seed}:ids:{ordinal}".encode()))
    data = rng.getrandbits(32 * _ID_WORDS).to_bytes(4 * _ID_WORDS, "little")
    top = data[3::4]
    used = 29  # outputs the letters take: 29 plus those rejected among them
    while (short := 29 - len(top[:used].translate(None, _ID_REJECTED))) > 0:
        used += short
    if used + 4 > _ID_WORDS:  # ~1e-12 of requests: draw them the long way
        return _slow_ids(seed, ordinal)
    uid = top[:used].translate(_ID_LETTERS, _ID_REJECTED).decode()
    # getrandbits(128) is those four outputs, the first lowest: its hex is the bytes reversed.
    return uid, "req_" + data[4 * used + 15:4 * used - 1:-1].hex()


def _slow_ids(seed: int, ordinal: int) -> tuple[str, str]:
    rng = random.Random(f"{seed}:ids:{ordinal}")
    uid = "".join(rng.choice(ALNUM) for _ in range(29))
    return uid, f"req_{rng.getrandbits(128):032x}"
