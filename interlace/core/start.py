"""Starting values: a GLM fit without random effects (IRLS), as lme4 starts from glm()."""

from __future__ import annotations

import numpy as np

from interlace.core.design import Design


def glm_start(design: Design, family, fp: dict, maxit: int = 50) -> np.ndarray:
    """Fixed effects of the GLM y ~ X (no random effects) by iteratively reweighted LS."""
    X, y, w, off = design.X, design.y, design.weights, design.offset
    if X.shape[1] == 0:
        return np.zeros(0)
    link = family.link
    mu = family.initialize(y, w)
    eta = link.link(mu)
    beta = np.zeros(X.shape[1])
    for _ in range(maxit):
        me = link.mu_eta(eta)
        W = family.info_mu(y, mu, w, fp) * me * me
        z = eta - off + family.score_mu(y, mu, w, fp) * me / np.maximum(W, 1e-300)
        sw = np.sqrt(W)
        if not (np.all(np.isfinite(sw)) and np.all(np.isfinite(z))):
            break  # separation or overflow: keep the last finite start
        try:
            new = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
        except np.linalg.LinAlgError:
            break
        eta_new = off + X @ new
        if not (link.valid_eta(eta_new) and np.all(np.abs(new) < 1e6)):
            break
        done = np.max(np.abs(new - beta)) < 1e-10 * (1 + np.max(np.abs(new)))
        beta, eta = new, eta_new
        mu = link.inverse(eta)
        if done:
            break
    return beta
