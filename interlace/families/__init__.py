"""Family plugins. The contract is in :mod:`interlace.families.base`."""

from interlace.families.base import ExponentialFamily, Family, FamilyParameter
from interlace.families.binomial import BinomialFamily
from interlace.families.gaussian import GaussianFamily
from interlace.families.negative_binomial import NegativeBinomial2Family
from interlace.families.poisson import PoissonFamily

__all__ = ["Family", "ExponentialFamily", "FamilyParameter", "BinomialFamily", "PoissonFamily",
           "GaussianFamily", "NegativeBinomial2Family"]
