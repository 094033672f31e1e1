"""F tests of L beta = 0 for a linear mixed model, as lmerTest's ``contestMD``.

Satterthwaite (lmerTest): the q independent t statistics of the rotated contrast P'L
(L V L' = P D P') each get Satterthwaite's df nu_m; the F statistic's denominator df is
2E / (E - q), E = sum nu_m / (nu_m - 2) (Fletcher). Kenward-Roger (pbkrtest's ``KRmodcomp``):
the Wald statistic on the adjusted covariance, scaled, with KR's denominator df.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from interlace.errors import InterlaceError
from interlace.inference.kenward_roger import kr_ddf_scale

DDF_METHODS = ("satterthwaite", "kenward-roger")


@dataclass(frozen=True)
class FTest:
    """One F test: statistic, numerator and denominator df, p-value."""

    F: float
    num_df: int
    den_df: float
    p_value: float


def check_ddf(ddf: str) -> str:
    """The ddf method's canonical name (``"kr"`` and ``"Kenward-Roger"`` accepted)."""
    key = str(ddf).lower().replace("_", "-")
    key = {"kr": "kenward-roger", "satterth": "satterthwaite"}.get(key, key)
    if key not in DDF_METHODS:
        raise InterlaceError(f"ddf must be one of {DDF_METHODS}, got {ddf!r}")
    return key


def fletcher_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's denominator df of an F from q t statistics with df ``nu``."""
    nu = np.asarray(nu, float)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - nu.size)


def rotated_contrast(L: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P'L and the positive eigenvalues d of L V L' (L's rank-q part, as lmerTest)."""
    d, P = np.linalg.eigh(L @ V @ L.T)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    keep = d > max(np.finfo(float).eps ** 0.5 * d[0], 0.0)
    if not keep.any():
        raise InterlaceError("the hypothesis matrix L has rank 0: nothing to test")
    return P[:, keep].T @ L, d[keep]


def satterthwaite_contrast_df(vg, Lrow: np.ndarray) -> float:
    """Satterthwaite's df of one linear function l'beta: 2 (l'Vl)^2 / (g'Ag)."""
    g = np.einsum("i,kij,j->k", Lrow, vg.jacobian, Lrow)
    den = float(g @ vg.A @ g)
    v = float(Lrow @ vg.V @ Lrow)
    return 2 * v**2 / den if den > 0 else np.inf


def contrast_ftest(model, L: np.ndarray, ddf: str = "satterthwaite") -> FTest:
    """The F test of L beta = 0 (L: q x p) for an LMM result with Satterthwaite's or
    Kenward-Roger's denominator df."""
    ddf = check_ddf(ddf)
    beta = np.asarray(model.fe_params, float)
    L = np.atleast_2d(np.asarray(L, float))
    if L.shape[1] != beta.size:
        raise InterlaceError(f"L must have {beta.size} columns (one per coefficient), "
                             f"got {L.shape[1]}")
    if ddf == "satterthwaite":
        vg = model.vcov_gradient
        PL, d = rotated_contrast(L, vg.V)
        q = d.size
        F = float(np.sum((PL @ beta) ** 2 / d)) / q
        den = fletcher_ddf(np.array([satterthwaite_contrast_df(vg, r) for r in PL]))
    else:
        adj = model.kr_adjustment
        PL, _ = rotated_contrast(L, adj.Phi)
        q = PL.shape[0]
        Lb = PL @ beta
        wald = float(Lb @ np.linalg.solve(PL @ adj.PhiA @ PL.T, Lb))
        den, scale = kr_ddf_scale(adj, PL)
        F = scale * wald / q
    return FTest(F, q, den, float(stats.f.sf(F, q, den)))
