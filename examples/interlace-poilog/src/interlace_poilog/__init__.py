"""Poisson-lognormal family for interlace (an example third-party plugin)."""

from interlace_poilog.plugin import PoissonLognormalFamily

__all__ = ["PoissonLognormalFamily"]
__version__ = "0.1.0"
