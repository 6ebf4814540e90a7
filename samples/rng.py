"""Random streams keyed by what they decide, so every sample figure is a function of its key.

``keyed_random(seed, "projects", city, year, month)`` always gives the same stream, whatever
else was drawn before: months and entities can be generated in any order, alone or together.
"""

from __future__ import annotations

import random
import zlib

import numpy as np


def _key(seed: int, key: tuple[object, ...]) -> int:
    return zlib.crc32("|".join(map(str, (seed, *key))).encode())


def keyed_random(seed: int, *key: object) -> random.Random:
    """A ``random.Random`` stream for (seed, *key)."""
    return random.Random(_key(seed, key))


def keyed_np_random(seed: int, *key: object) -> np.random.Generator:
    """A numpy ``Generator`` for (seed, *key)."""
    return np.random.default_rng(_key(seed, key))
