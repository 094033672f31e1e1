"""Family plugins. The contract is in :mod:`interlace.families.base`."""

from interlace.families.base import ExponentialFamily, Family, FamilyParameter
from interlace.families.beta import BetaFamily
from interlace.families.binomial import BinomialFamily
from interlace.families.gamma import GammaFamily
from interlace.families.gaussian import GaussianFamily
from interlace.families.nbinom1 import NegativeBinomial1Family
from interlace.families.negative_binomial import NegativeBinomial2Family
from interlace.families.poisson import PoissonFamily
from interlace.families.zero_inflated import (
    HurdleNB2Family,
    HurdlePoissonFamily,
    ZeroInflatedNB2Family,
    ZeroInflatedPoissonFamily,
)
from interlace.families.zoib import ZeroOneInflatedBetaFamily

__all__ = ["Family", "ExponentialFamily", "FamilyParameter", "BinomialFamily", "PoissonFamily",
           "GaussianFamily", "NegativeBinomial2Family", "NegativeBinomial1Family", "GammaFamily",
           "BetaFamily", "ZeroInflatedPoissonFamily", "ZeroInflatedNB2Family",
           "HurdlePoissonFamily", "HurdleNB2Family", "ZeroOneInflatedBetaFamily"]
