"""The marginal covariance of y as a linear combination of known matrices, for Kenward-Roger.

pbkrtest writes Var(y) = sum_i gamma_i G_i: one G per variance and covariance of each random
term (Z_a Z_a' for a variance, Z_a Z_b' + Z_b Z_a' for a covariance) and the residual's
diag(1 / w). Dense n x n matrices: Kenward-Roger is for moderate n.
"""

from __future__ import annotations

import numpy as np

from interlace.errors import InterlaceError
from interlace.model.design import Design

MAX_ROWS = 3000  # emmeans' pbkrtest.limit


def covariance_components(design: Design, theta: np.ndarray, sigma: float
                          ) -> tuple[list[np.ndarray], np.ndarray]:
    """The G_i (n x n each) and their coefficients gamma_i at the estimate."""
    n = design.n
    if n > MAX_ROWS:
        raise InterlaceError(f"Kenward-Roger needs dense {n} x {n} matrices; use "
                             f"ddf='satterthwaite' for more than {MAX_ROWS} rows")
    structured = [t.label for t in design.terms if not t.linear]
    if structured:
        raise InterlaceError(f"Kenward-Roger is available for (x | g) and (x || g) terms only, "
                             f"not for the covariance structure of {', '.join(structured)}; "
                             f"use ddf='satterthwaite'")
    Gs, gam = [], []
    pos = 0
    for t in design.terms:
        nt = t.ntheta
        cov = t.covariance(theta[pos:pos + nt], sigma**2)
        pos += nt
        same = (t.codes[:, None] == t.codes[None, :]).astype(float)
        k = t.k
        for a in range(k):
            for b in range(a + 1):
                if b != a and not t.correlated:
                    continue
                Gab = same * np.outer(t.Z[:, a], t.Z[:, b])
                Gs.append(Gab if a == b else Gab + Gab.T)
                gam.append(cov[a, b])
    Gs.append(np.diag(1.0 / design.weights))
    gam.append(sigma**2)
    return Gs, np.asarray(gam)
