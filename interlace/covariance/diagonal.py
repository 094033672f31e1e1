"""``diag``: the uncorrelated covariance of ``(x || g)``: one free SD per column."""

from __future__ import annotations

import numpy as np

from interlace.covariance.base import LinearStructure, tri_positions


class Diagonal(LinearStructure):
    """Independent effects with their own variances: theta is Lambda's diagonal."""

    name = "diag"
    aliases = ("diagonal",)
    description = "diagonal: independent effects, one variance each (lme4's (x || g))"

    def positions(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return tri_positions(k, False)
