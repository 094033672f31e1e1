"""The penalised least-squares solution of a linear mixed model at one theta."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PLSSolution:  # noqa: D101 - fields documented inline
    """The penalised least-squares solution at one theta."""

    beta: np.ndarray
    u: np.ndarray
    pwrss: float
    ldL2: float  # log |M|
    ldRX2: float  # log |RX'RX|
    RX2: np.ndarray  # X'V^-1 X * sigma^2 (the Schur complement)
    resid: np.ndarray  # y - offset - X beta - Z Lambda u
    factor: object = None  # PenalizedFactor of M
    MiC: np.ndarray | None = None  # M^-1 Lambda'Z'WX
    dense: tuple | None = None  # (L, T, Lb) of the dense path: chol(B), Lb'A, Lambda_b
    grad_parts: tuple | None = None  # gradient_parts' result, once computed
    hess: tuple | None = None  # exact (gradient, Hessian) in theta, once computed (dense)
