"""``us``: the unstructured covariance of ``(x | g)``: Lambda's whole lower triangle is free."""

from __future__ import annotations

import numpy as np

from interlace.covariance.base import LinearStructure, tri_positions


class Unstructured(LinearStructure):
    """Any k x k covariance: theta is Lambda's lower triangle by column (lme4's order)."""

    name = "us"
    aliases = ("unstructured",)
    description = "unstructured: every variance and correlation free (lme4's (x | g))"

    def positions(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return tri_positions(k, True)
