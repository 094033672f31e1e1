"""interlace: generalised linear mixed models with lme4 parity, built from plugins."""

from interlace.caches import cache_info, clear_caches
from interlace.datasets import load_dataset
from interlace.distributed.dispatch import fit, glmer
from interlace.errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    InterlaceError,
    InterlaceWarning,
    PluginError,
    UnsupportedModelError,
)
from interlace.families import (
    BetaBinomialFamily,
    BetaFamily,
    BinomialFamily,
    ConwayMaxwellPoissonFamily,
    ExponentialFamily,
    Family,
    FamilyParameter,
    GammaFamily,
    GaussianFamily,
    GeneralizedPoissonFamily,
    HurdleNB1Family,
    HurdleNB2Family,
    HurdlePoissonFamily,
    LognormalFamily,
    NegativeBinomial1Family,
    NegativeBinomial2Family,
    PoissonFamily,
    TFamily,
    TruncatedNB1Family,
    TruncatedNB2Family,
    TruncatedPoissonFamily,
    TweedieFamily,
    ZeroInflatedGammaFamily,
    ZeroInflatedNB1Family,
    ZeroInflatedNB2Family,
    ZeroInflatedPoissonFamily,
    ZeroOneInflatedBetaFamily,
    ZeroPartFamily,
    ZeroTruncatedFamily,
)
from interlace.glmm.deviance import Deviance
from interlace.glmm.fitting import (
    Optimum,
    build_glmm,
    glmm_objective,
    glmm_result,
    optimize_glmm,
)
from interlace.glmm.result import GLMMResult
from interlace.inference.emmeans import emmeans
from interlace.lmm.result import LMMResult
from interlace.model.num_factor import num_factor
from interlace.ordinal.family import OrdinalFamily
from interlace.ordinal.fitting import build_clmm, clmm
from interlace.ordinal.result import CLMMResult
from interlace.registry import list_plugins, plugin_errors, reload_plugins
from interlace.registry.hookspecs import hookimpl
from interlace.results.anova import anova

__version__ = "0.1.0"

__all__ = [
    "glmer", "fit", "clmm", "anova", "emmeans", "build_glmm", "glmm_objective", "optimize_glmm",
    "glmm_result", "Deviance", "Optimum", "build_clmm", "GLMMResult", "LMMResult", "CLMMResult",
    "OrdinalFamily",
    "list_plugins", "plugin_errors", "reload_plugins", "hookimpl",
    "load_dataset", "Family", "ExponentialFamily", "FamilyParameter", "BinomialFamily",
    "PoissonFamily", "GaussianFamily", "NegativeBinomial2Family", "InterlaceError", "DataError",
    "FormulaError", "PluginError", "UnsupportedModelError", "InterlaceWarning",
    "ConvergenceWarning", "NegativeBinomial1Family", "GammaFamily", "BetaFamily",
    "ZeroInflatedPoissonFamily", "ZeroInflatedNB2Family", "HurdlePoissonFamily", "HurdleNB2Family",
    "ZeroOneInflatedBetaFamily", "TweedieFamily", "TFamily", "LognormalFamily",
    "GeneralizedPoissonFamily", "ConwayMaxwellPoissonFamily", "BetaBinomialFamily",
    "TruncatedPoissonFamily", "TruncatedNB1Family", "TruncatedNB2Family", "ZeroInflatedGammaFamily",
    "ZeroInflatedNB1Family", "HurdleNB1Family", "ZeroPartFamily", "ZeroTruncatedFamily",
    "cache_info", "clear_caches", "num_factor",
]
