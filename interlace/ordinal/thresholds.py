"""Threshold structures of a cumulative link model: ordinal's ``threshold=`` argument.

ordinal writes the K-1 thresholds as tau = T alpha, with alpha its threshold coefficients
(``coef()``, the "Threshold coefficients" table) and T its ``tJac``:

* ``"flexible"``: alpha = tau, named ``"1|2"``, ``"2|3"``, ...;
* ``"equidistant"``: tau_j = alpha_1 + (j - 1) alpha_2, named ``threshold.1`` and ``spacing``;
* ``"symmetric"``: thresholds mirrored about a centre. With K-1 = 2m + 1 (odd), alpha =
  (``central``, ``spacing.1`` .. ``spacing.m``) and tau = (c - s_m, ..., c - s_1, c, c + s_1,
  ..., c + s_m); with K-1 = 2m (even), alpha = (``central.1``, ``central.2``, ``spacing.1`` ..
  ``spacing.(m-1)``) and tau = (c1 - s_(m-1), ..., c1 - s_1, c1, c2, c2 + s_1, ..., c2 + s_(m-1)).

interlace estimates parameters psi with alpha = C psi that keep the thresholds ordered without
constraints: the first is the location (identity scale: every threshold moves with it), the
others are gaps between consecutive thresholds, positive (log scale). Flexible: ``threshold_1``
and ``spacing_j`` = tau_j - tau_(j-1); equidistant: ``threshold_1`` and ``spacing``; symmetric:
``central`` (or ``central_1`` and ``central_gap`` = c2 - c1) and ``gap_j`` = s_j - s_(j-1)
(s_0 = 0). So tau = T C psi is linear in psi, and so are its derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from interlace.errors import DataError

THRESHOLDS = ("flexible", "symmetric", "equidistant")


@dataclass(frozen=True)
class ThresholdStructure:
    """The K-1 thresholds of one structure: ``names`` and ``transforms`` of the estimated
    parameters psi, ``C`` (alpha = C psi), ``T`` (tau = T alpha, ordinal's ``tJac``) and
    ordinal's ``alpha_names`` (None for flexible: named from the response's levels)."""

    kind: str
    names: tuple[str, ...]
    transforms: tuple[str, ...]
    C: np.ndarray
    T: np.ndarray
    alpha_names: tuple[str, ...] | None

    @cached_property
    def L(self) -> np.ndarray:
        """d tau / d psi (tau = L psi; computed once: it is read at every evaluation)."""
        return self.T @ self.C

    def psi(self, params: dict) -> np.ndarray:
        """The parameters' natural values, in order."""
        return np.array([float(params[n]) for n in self.names])

    def thresholds(self, params: dict) -> np.ndarray:
        """tau_1 < ... < tau_(K-1)."""
        return self.L @ self.psi(params)

    def alpha(self, params: dict) -> np.ndarray:
        """ordinal's threshold coefficients."""
        return self.C @ self.psi(params)

    def dpsi_dz(self, params: dict) -> np.ndarray:
        """d psi / d z per parameter, z the optimizer's (unconstrained) scale."""
        return np.array([float(params[n]) if t == "log" else 1.0
                         for n, t in zip(self.names, self.transforms)])

    def from_thresholds(self, tau: np.ndarray) -> dict[str, float]:
        """Parameter values whose thresholds are closest to ``tau`` (exactly ``tau`` for the
        flexible structure); gaps are kept positive."""
        tau = np.asarray(tau, float)
        if self.kind == "flexible":  # alpha = tau, psi = (tau_1, its gaps): no solves
            psi = np.diff(tau, prepend=0.0)
        else:
            psi = np.linalg.solve(self.C, np.linalg.lstsq(self.T, tau, rcond=None)[0])
        spread = max(float(np.ptp(tau)) if tau.size > 1 else 1.0, 1e-3)
        floor = 1e-3 * spread / max(tau.size - 1, 1)
        return {n: float(v if t == "identity" else max(v, floor))
                for n, v, t in zip(self.names, psi, self.transforms)}

    def labels(self, levels: list) -> list[str]:
        """ordinal's names of the threshold coefficients (alpha)."""
        if self.alpha_names is not None:
            return list(self.alpha_names)
        lv = [str(v) for v in levels]
        return [f"{a}|{b}" for a, b in zip(lv[:-1], lv[1:])]


def threshold_structure(kind: str, ncat: int) -> ThresholdStructure:
    """The structure ``kind`` (one of :data:`THRESHOLDS`) for a response with ``ncat`` levels."""
    if kind not in THRESHOLDS:
        raise DataError(f"threshold must be one of {', '.join(map(repr, THRESHOLDS))}, "
                        f"got {kind!r}")
    n = ncat - 1
    if kind == "flexible":
        return ThresholdStructure(
            kind, ("threshold_1", *[f"spacing_{j}" for j in range(2, ncat)]),
            ("identity",) + ("log",) * (n - 1), np.tril(np.ones((n, n))), np.eye(n), None)
    if n < 2:
        raise DataError(f"{kind} thresholds need a response with at least 3 observed levels "
                        f"(this one has {ncat}), as in ordinal; use threshold='flexible'")
    if kind == "equidistant":
        return ThresholdStructure(kind, ("threshold_1", "spacing"), ("identity", "log"),
                                  np.eye(2), np.column_stack([np.ones(n), np.arange(n)]),
                                  ("threshold.1", "spacing"))
    return _symmetric(n)


def _symmetric(n: int) -> ThresholdStructure:
    """ordinal's symmetric structure for n thresholds (see the module docstring)."""
    m = n // 2
    if n % 2:  # alpha = (central, spacing.1..m); psi = (central, gap_1..m)
        na = m + 1
        T = np.zeros((n, na))
        T[:, 0] = 1.0
        for j in range(1, m + 1):
            T[m - j, j], T[m + j, j] = -1.0, 1.0
        C = np.zeros((na, na))
        C[0, 0] = 1.0
        C[1:, 1:] = np.tril(np.ones((m, m)))
        return ThresholdStructure("symmetric", ("central", *[f"gap_{j}" for j in range(1, na)]),
                                  ("identity",) + ("log",) * m, C, T,
                                  ("central", *[f"spacing.{j}" for j in range(1, na)]))
    # even: alpha = (central.1, central.2, spacing.1..m-1); psi = (central_1, central_gap,
    # gap_1..m-1)
    na = m + 1
    T = np.zeros((n, na))
    T[:m, 0], T[m:, 1] = 1.0, 1.0
    for j in range(1, m):
        T[m - 1 - j, 1 + j], T[m + j, 1 + j] = -1.0, 1.0
    C = np.zeros((na, na))
    C[0, 0], C[1, 0], C[1, 1] = 1.0, 1.0, 1.0
    C[2:, 2:] = np.tril(np.ones((m - 1, m - 1)))
    return ThresholdStructure(
        "symmetric", ("central_1", "central_gap", *[f"gap_{j}" for j in range(1, m)]),
        ("identity",) + ("log",) * m, C, T,
        ("central.1", "central.2", *[f"spacing.{j}" for j in range(1, m)]))
