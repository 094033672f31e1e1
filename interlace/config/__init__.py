"""YAML fit configs: schema, safe loading, validation and running (see docs/configs.md).

>>> from interlace.config import load, run_fit
>>> specs = load(["configs/"])            # every fit of every config, validated at once
>>> record = run_fit(specs[0])            # one record: status, message, estimates, ...
"""

from interlace.config.data import load_data
from interlace.config.formulas import ALLOWED_FUNCTIONS, check_formula
from interlace.config.loader import (
    ConfigError,
    ConfigIssue,
    FitSpec,
    content_key,
    expand_paths,
    load,
    load_one,
    loads,
)
from interlace.config.runner import fit_config, flatten, glmer_kwargs, result_payload, run_fit
from interlace.config.schema import FIT, render_markdown

__all__ = [
    "ALLOWED_FUNCTIONS", "ConfigError", "ConfigIssue", "FIT", "FitSpec", "check_formula",
    "content_key", "expand_paths", "fit_config", "flatten", "glmer_kwargs", "load", "load_data",
    "load_one", "loads", "render_markdown", "result_payload", "run_fit",
]
