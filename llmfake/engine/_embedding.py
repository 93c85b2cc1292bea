"""Deterministic embedding vectors, cheap enough for the largest request a provider allows.

An OpenAI request may carry 2,048 inputs of 3,072 dimensions: drawing every value from a
Gaussian in Python took ~1.7 ms a vector, seven seconds of a shared event loop for one request.
Here a vector is one of ``_BASES`` unit vectors of Gaussian values (drawn once per dimension
count, then cached) with each value's sign flipped by a bit of SHAKE-256 of the text. Flipping
signs keeps the norm, so the vector stays a unit vector; the flips are done on the vector's
bytes as one integer XOR, so nothing runs in Python once per value, and the values come already
in the short form the providers write (see ``_base``). Vectors of different texts
are near orthogonal, like the old ones; the values themselves changed after llmfake 0.1.0, which
drew every value from a Gaussian seeded with SHA-256 of the text.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import struct
import sys
from array import array

__all__ = ["embedding"]

_BASES = 16
"""Base vectors per dimension count; a text picks one by the first byte of its digest."""

_SIGN_BIT = bytes(b & 0x80 for b in range(256))
"""A ``bytes.translate`` table that keeps only each byte's top bit."""


@functools.lru_cache(maxsize=64)  # 64 x 512 KiB at most, at 65536 dimensions
def _base(dimensions: int, index: int) -> int:
    """Base vector ``index`` for ``dimensions`` as the integer of its float64 bytes (little
    endian). Each value is a float32 written as the shortest decimal that reads back as that
    float32 (``.9g``): JSON writes it short, and packing it as float32 for base64 gives the
    same float32, so both encodings agree and neither has to round anything per request."""
    rng = random.Random(f"llmfake-embedding/{dimensions}/{index}")
    vec = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(math.fsum(v * v for v in vec)) or 1.0
    single = struct.unpack(f"<{dimensions}f",
                           struct.pack(f"<{dimensions}f", *(v / norm for v in vec)))
    short = [float(f"{v:.9g}") for v in single]
    return int.from_bytes(struct.pack(f"<{dimensions}d", *short), "little")


def embedding(text: str, dimensions: int) -> tuple[float, ...]:
    """A unit vector that depends only on ``text`` and ``dimensions``.

    Drawn from SHAKE-256 of the text, so the same input always gets the same vector, whatever
    the seed or the order of requests. Its values are float32 values in their shortest decimal
    form, so base64 (float32) and float encodings agree and need no rounding when written.
    """
    if dimensions <= 0:
        return ()
    digest = hashlib.shake_256(text.encode("utf-8", "surrogatepass")).digest(dimensions + 1)
    mask = bytearray(8 * dimensions)
    mask[7::8] = digest[1:].translate(_SIGN_BIT)  # the sign bit is a float64's top bit
    flipped = _base(dimensions, digest[0] % _BASES) ^ int.from_bytes(mask, "little")
    values = array("d", flipped.to_bytes(8 * dimensions, "little"))
    if sys.byteorder == "big":  # pragma: no cover - the bytes above are little-endian
        values.byteswap()
    return tuple(values.tolist())
