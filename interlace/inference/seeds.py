"""One random stream per replicate: replicate i of a simulation or a bootstrap draws from the
stream seeded by (the run's seed, i) alone, so the draws do not depend on how replicates are
split among processes, nor on how many there are (numpy's ``SeedSequence`` spawned per index)."""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.errors import InterlaceError


def seed_sequence(seed: Any = None) -> np.random.SeedSequence:
    """The run's root: a non-negative integer seed, a ``SeedSequence``, or None (fresh entropy,
    which the root's ``entropy`` records so that the run can be repeated)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InterlaceError(f"seed must be a non-negative integer, a numpy SeedSequence or "
                             f"None, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def replicate_rng(root: np.random.SeedSequence, i: int) -> np.random.Generator:
    """The generator of replicate ``i``: the root's i-th spawned child (as ``root.spawn(n)[i]``
    would give it, without spawning the others)."""
    child = np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (int(i),),
                                   pool_size=root.pool_size)
    return np.random.default_rng(child)


def check_nsim(nsim: Any) -> int:
    """The number of replicates: a positive integer, or an InterlaceError naming it."""
    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise InterlaceError(f"nsim must be a positive integer, got {nsim!r}")
    return int(nsim)
