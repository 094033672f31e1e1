"""Generalised Poisson family for interlace (an example third-party plugin)."""

from interlace_genpois.plugin import GeneralizedPoissonFamily

__all__ = ["GeneralizedPoissonFamily"]
__version__ = "0.1.0"
