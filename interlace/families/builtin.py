"""Entry-point module registering the built-in families (as a third-party plugin would)."""

from __future__ import annotations

from interlace.core.hookspecs import hookimpl
from interlace.families.binomial import BinomialFamily
from interlace.families.gaussian import GaussianFamily
from interlace.families.negative_binomial import NegativeBinomial2Family
from interlace.families.ordinal import OrdinalFamily
from interlace.families.poisson import PoissonFamily


@hookimpl
def interlace_families():
    return [BinomialFamily, PoissonFamily, GaussianFamily, NegativeBinomial2Family, OrdinalFamily]
