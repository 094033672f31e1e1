"""Entry-point module registering the built-in covariance structures (as a plugin would)."""

from __future__ import annotations

from interlace.covariance.ar1 import AR1
from interlace.covariance.compound import CompoundSymmetry, HomogeneousCompoundSymmetry
from interlace.covariance.diagonal import Diagonal
from interlace.covariance.reduced_rank import ReducedRank
from interlace.covariance.spatial import Exponential, Gaussian, Matern, OrnsteinUhlenbeck
from interlace.covariance.toeplitz import Toeplitz
from interlace.covariance.unstructured import Unstructured
from interlace.registry.hookspecs import hookimpl


@hookimpl
def interlace_covariances():
    return [Unstructured, Diagonal, AR1, CompoundSymmetry, Toeplitz, Exponential, Gaussian,
            Matern, OrnsteinUhlenbeck, HomogeneousCompoundSymmetry,
            ReducedRank]
