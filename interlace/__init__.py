"""interlace: generalised linear mixed models with lme4 parity, built from plugins."""

from interlace.core.anova import anova
from interlace.core.clmm import CLMMResult, clmm
from interlace.core.errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    InterlaceError,
    InterlaceWarning,
    PluginError,
    UnsupportedModelError,
)
from interlace.core.fitting import glmer
from interlace.core.hookspecs import hookimpl
from interlace.core.lmm_fit import fit
from interlace.core.lmm_result import LMMResult
from interlace.core.registry import list_plugins, plugin_errors, reload_plugins
from interlace.core.result import GLMMResult
from interlace.datasets import load_dataset
from interlace.families import (
    BetaFamily,
    BinomialFamily,
    ExponentialFamily,
    Family,
    FamilyParameter,
    GammaFamily,
    GaussianFamily,
    HurdleNB2Family,
    HurdlePoissonFamily,
    NegativeBinomial1Family,
    NegativeBinomial2Family,
    PoissonFamily,
    ZeroInflatedNB2Family,
    ZeroInflatedPoissonFamily,
    ZeroOneInflatedBetaFamily,
)
from interlace.families.ordinal import OrdinalFamily

__version__ = "0.1.0"

__all__ = [
    "glmer", "fit", "clmm", "anova", "GLMMResult", "LMMResult", "CLMMResult", "OrdinalFamily",
    "list_plugins", "plugin_errors", "reload_plugins", "hookimpl",
    "load_dataset", "Family", "ExponentialFamily", "FamilyParameter", "BinomialFamily",
    "PoissonFamily", "GaussianFamily", "NegativeBinomial2Family", "InterlaceError", "DataError",
    "FormulaError", "PluginError", "UnsupportedModelError", "InterlaceWarning",
    "ConvergenceWarning", "NegativeBinomial1Family", "GammaFamily", "BetaFamily",
    "ZeroInflatedPoissonFamily", "ZeroInflatedNB2Family", "HurdlePoissonFamily", "HurdleNB2Family",
    "ZeroOneInflatedBetaFamily",
]
