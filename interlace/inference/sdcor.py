"""Random-effect covariances by standard deviations and correlations (lme4's ``Sv_to_Cv``).

Profiling fixes one SD or correlation and re-optimises the rest, so the covariance factor
theta (Lambda's lower triangle by column) is written as a function of them: per term,
Sigma = D R D with D = diag(sd) and R the correlations, Lambda = D C with C = chol(R). The
entries keep theta's positions: an SD where theta has a diagonal entry, the correlation of
rows (r, c) where it has an off-diagonal one
(:func:`~interlace.inference.parameters.random_parameter_values` is the inverse).
"""

from __future__ import annotations

import numpy as np

from interlace.errors import InterlaceError


def correlation_factor(R: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of a correlation matrix, or None where it is not positive
    semi-definite (a k x k loop over columns: k is a term's number of columns)."""
    k = R.shape[0]
    C = np.zeros_like(R)
    for j in range(k):
        d = R[j, j] - C[j, :j] @ C[j, :j]
        if d < -1e-12:
            return None
        C[j, j] = np.sqrt(max(d, 0.0))
        below = R[j + 1:, j] - C[j + 1:, :j] @ C[j, :j]
        if C[j, j] > 0:
            C[j + 1:, j] = below / C[j, j]
        elif np.any(np.abs(below) > 1e-10):
            return None
    return C


def term_factor(term, values: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(Lambda, C) of one term from its SDs and correlations in theta's positions (None, None
    where the correlations are not a valid correlation matrix)."""
    if term.k == 2 and term.correlated:  # [sd_1, cor, sd_2]: the common case, in closed form
        rho = float(values[1])
        if abs(rho) > 1.0:
            return None, None
        C = np.array([[1.0, 0.0], [rho, np.sqrt(1.0 - rho * rho)]])
        return values[[0, 2], None] * C, C
    r, c = term.tri_rows, term.tri_cols
    diag = r == c
    k = term.k
    sd = np.zeros(k)
    sd[r[diag]] = values[diag]
    R = np.eye(k)
    R[r[~diag], c[~diag]] = values[~diag]
    R[c[~diag], r[~diag]] = values[~diag]
    C = correlation_factor(R)
    if C is None:
        return None, None
    return sd[:, None] * C, C


def term_jacobian(term, v: np.ndarray) -> np.ndarray:
    """d theta_t / d (SDs, correlations) of one term; a correlation's column is NaN where C
    is singular (a correlation of +-1: the derivative is unbounded there), all NaN where the
    correlations are not a correlation matrix."""
    if term.k == 2 and term.correlated and abs(v[1]) < 1.0:  # closed form, as term_factor
        root = np.sqrt(1.0 - v[1] * v[1])
        return np.array([[1.0, 0.0, 0.0], [0.0, v[2], v[1]], [0.0, -v[2] * v[1] / root, root]])
    r, c = term.tri_rows, term.tri_cols
    L, C = term_factor(term, v)
    out = np.full((r.size, r.size), np.nan)
    if L is None:
        return out
    sd = np.zeros(term.k)
    sd[r[r == c]] = v[r == c]
    regular = bool(np.all(np.diag(C) > 1e-12))
    Ci = np.linalg.inv(C) if regular else None
    for a, (ra, ca) in enumerate(zip(r, c)):
        if ra == ca:  # Lambda = D C: d Lambda / d sd_ra is row ra of C
            dL = np.zeros_like(C)
            dL[ra] = C[ra]
        elif regular:  # D dC, dC = C Phi(C^-1 dR C^-T) (Phi: lower triangle, half diagonal)
            A = np.outer(Ci[:, ra], Ci[:, ca])
            A = A + A.T
            phi = np.tril(A) - 0.5 * np.diag(np.diag(A))
            dL = sd[:, None] * (C @ phi)
        else:
            continue
        out[:, a] = dL[r, c]
    return out


class SdcorMap:
    """theta from SDs and correlations for a model's terms, and its Jacobian: the identity on
    the entries of terms without correlations (one column, or ``||``), which need no work."""

    def __init__(self, terms, slices) -> None:
        self.terms, self.slices = terms, slices
        structured = [t.label for t in terms if not t.linear]
        if structured:
            raise InterlaceError(f"profile intervals are not available for the covariance "
                                 f"structure of {', '.join(structured)}; use method='wald'")
        self.mixed = [(t, sl) for t, sl in zip(terms, slices) if t.correlated and t.k > 1]
        self.n = sum(t.ntheta for t in terms)

    def theta(self, values: np.ndarray) -> np.ndarray | None:
        """theta at SDs/correlations (None where correlations are invalid)."""
        if not self.mixed:
            return values.copy()
        theta = values.copy()
        for t, sl in self.mixed:
            L, _ = term_factor(t, values[sl])
            if L is None:
                return None
            theta[sl] = L[t.tri_rows, t.tri_cols]
        return theta

    def jacobian_t_dot(self, values: np.ndarray, g: np.ndarray) -> np.ndarray:
        """J' g: a gradient in theta taken to SDs/correlations."""
        out = g.copy()
        for t, sl in self.mixed:
            out[sl] = term_jacobian(t, values[sl]).T @ g[sl]
        return out
