"""Entry-point module registering the built-in families (as a third-party plugin would)."""

from __future__ import annotations

from interlace.families.beta import BetaFamily
from interlace.families.betabinomial import BetaBinomialFamily
from interlace.families.binomial import BinomialFamily
from interlace.families.compois import ConwayMaxwellPoissonFamily
from interlace.families.gamma import GammaFamily
from interlace.families.gaussian import GaussianFamily
from interlace.families.genpois import GeneralizedPoissonFamily
from interlace.families.lognormal import LognormalFamily
from interlace.families.nbinom1 import NegativeBinomial1Family
from interlace.families.negative_binomial import NegativeBinomial2Family
from interlace.families.poisson import PoissonFamily
from interlace.families.student import TFamily
from interlace.families.tweedie import TweedieFamily
from interlace.families.zero_inflated import (
    HurdleNB1Family,
    HurdleNB2Family,
    HurdlePoissonFamily,
    TruncatedComPoisFamily,
    TruncatedGenPoisFamily,
    TruncatedNB1Family,
    TruncatedNB2Family,
    TruncatedPoissonFamily,
    ZeroInflatedGammaFamily,
    ZeroInflatedNB1Family,
    ZeroInflatedNB2Family,
    ZeroInflatedPoissonFamily,
)
from interlace.families.zoib import ZeroOneInflatedBetaFamily
from interlace.registry.hookspecs import hookimpl


@hookimpl
def interlace_families():
    return [BinomialFamily, PoissonFamily, GaussianFamily, NegativeBinomial2Family,
            NegativeBinomial1Family, GammaFamily, BetaFamily, ZeroInflatedPoissonFamily,
            ZeroInflatedNB2Family, HurdlePoissonFamily, HurdleNB2Family,
            ZeroOneInflatedBetaFamily, TweedieFamily, TFamily, LognormalFamily,
            GeneralizedPoissonFamily, ConwayMaxwellPoissonFamily, BetaBinomialFamily,
            TruncatedPoissonFamily, TruncatedNB1Family, TruncatedNB2Family,
            TruncatedGenPoisFamily, TruncatedComPoisFamily, ZeroInflatedNB1Family,
            HurdleNB1Family, ZeroInflatedGammaFamily]
