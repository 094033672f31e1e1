"""The row kernel: the per-row passes of penalised IRLS, part of the family contract.

PIRLS needs, at every trial point, mu = g^-1(eta) and sum_i log p(y_i | mu_i); at every
iteration the score in eta and the Fisher weights. :class:`RowKernel`, the generic kernel, asks
the family and its link for each piece. A family may offer a faster kernel of its own from its
``row_kernel(y, weights)`` hook (:meth:`interlace.families.base.Family.row_kernel`): a subclass
of :class:`RowKernel` whose methods return the same values, computed together. The built-in
Poisson (log link) and binomial (logit link) do: there log mu or the log-odds is eta, the score
in eta is w (y - mu) and the weight is w V(mu), so a trial point costs a few numpy passes
instead of a dozen.

Any kernel's ``evaluate`` sums the family's ``loglik_kernel`` (the fit adds
``loglik_constant`` once), so a family with its own kernel splits ``loglik`` consistently.
A kernel that sets ``fused = True`` promises more, and the Laplace integrator then uses the
closed-form gradient (:mod:`interlace.glmm.gradient_fused`) and one Cholesky factor for both
the log-determinant and the adjoint solve:

* the family's link is its canonical link, so the observed information equals the expected
  one (the weights W are also the Hessian of -loglik in eta);
* ``score_weights`` returns the score in eta and W (its last two entries may be None);
* the weights are finite wherever ``evaluate_checked`` accepted eta;
* ``weights_deta(eta, mu, W)`` returns dW/deta, elementwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.links.base import Link


class RowKernel:
    """Generic kernel: every quantity from the family's and the link's own methods.

    ``fam``, ``link``, ``y`` and ``w`` (prior weights x trials, contiguous float arrays),
    ``unit`` (all weights are 1) and ``source`` (the arrays it was built from, to tell when it
    is stale) are for subclasses and the fitting code.
    """

    #: True for a canonical-link kernel with closed forms that defines ``weights_deta``.
    fused = False
    #: True for a fused kernel whose mean is exp(eta) with score w (y - mu) and weights w mu
    #: (Poisson, log link): with one random intercept, PIRLS then runs on per-level sums
    #: (:mod:`interlace.glmm.pirls_grouped`).
    exp_mean = False

    def __init__(self, family: Any, y: np.ndarray, weights: np.ndarray) -> None:
        self.fam, self.link, self.source = family, family.link, (y, weights)
        self.y = np.ascontiguousarray(y, dtype=float)
        self.w = np.ascontiguousarray(weights, dtype=float)
        self.unit = bool(np.all(self.w == 1.0))
        self._finite_only = type(self.link).valid_eta is Link.valid_eta  # the base class's check

    def evaluate(self, eta: np.ndarray, fp: dict) -> tuple[np.ndarray, float]:
        """The mean and the sum of the family's mu-dependent log-density terms at ``eta``."""
        mu = self.link.inverse(eta)
        return mu, float(np.sum(self.fam.loglik_kernel(self.y, mu, self.w, fp)))

    def evaluate_checked(self, eta: np.ndarray, fp: dict) -> tuple[np.ndarray, float] | None:
        """``evaluate``, or None where the link cannot map ``eta`` to a mean."""
        ok = np.isfinite(eta).all() if self._finite_only else self.link.valid_eta(eta)
        if not ok:
            return None
        return self.evaluate(eta, fp)

    def score_weights(self, eta: np.ndarray, mu: np.ndarray, fp: dict
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Score in eta, Fisher weights in eta, and the score in mu and d mu / d eta (a fused
        kernel may return None for the last two)."""
        me = self.link.mu_eta(eta)
        s_mu = self.fam.score_mu(self.y, mu, self.w, fp)
        return s_mu * me, self.fam.info_mu(self.y, mu, self.w, fp) * me * me, s_mu, me

    def weights(self, eta: np.ndarray, mu: np.ndarray, fp: dict) -> np.ndarray:
        """Fisher weights in eta alone."""
        me = self.link.mu_eta(eta)
        return self.fam.info_mu(self.y, mu, self.w, fp) * me * me

    def weights_deta(self, eta: np.ndarray, mu: np.ndarray, W: np.ndarray) -> np.ndarray:
        """dW/deta given W: required of a fused kernel, not offered by the generic one."""
        raise NotImplementedError(f"{type(self).__name__} is not a fused kernel")
