"""Which random-effect terms a prediction includes: lme4's ``re.form``.

``re_form=None`` includes every term of the model; ``"~0"`` (also ``"0"``, ``"~ 0"``, NaN,
``pandas.NA``: R's ``NA``) none, the population-level prediction; a formula such as
``"~ (1 | herd)"`` the model's terms it names. Terms are matched as the model parsed them
(``(1 | a/b)`` names ``(1 | a)`` and ``(1 | a:b)``); a term the model does not have is an
error naming it and the model's terms. ``include_re=False`` is ``re_form="~0"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.errors import FormulaError, InterlaceError
from interlace.model.formula import RandomTermSpec, random_terms

_NONE = {"0", "~0", "-1", "~-1", "NA", "~NA"}


def _is_na(value: Any) -> bool:
    """Whether ``value`` is R's NA: NaN, pandas.NA or numpy's NaN scalar."""
    if value is None or isinstance(value, str):
        return False
    try:
        return bool(np.ndim(value) == 0 and value != value)  # NaN and pandas.NA
    except TypeError:
        return True  # pandas.NA compares to NA, whose truth value raises


def _key(spec: RandomTermSpec) -> tuple[str, str, bool]:
    return spec.expr.replace(" ", ""), spec.group.replace(" ", ""), spec.correlated


def included_terms(model_terms: list[RandomTermSpec], re_form: Any = None,
                   include_re: bool = True) -> list[int]:
    """Indices (into ``model_terms``, the model's parsed random terms) of the terms a
    prediction includes, from ``re_form`` and ``include_re``."""
    if not isinstance(include_re, (bool, np.bool_)):
        raise InterlaceError(f"include_re must be True or False, got {include_re!r}")
    if not include_re:
        if re_form is not None and not _is_na(re_form) and str(re_form).replace(" ", "") not in _NONE:
            raise InterlaceError(f"include_re=False contradicts re_form={re_form!r}; give one of "
                             f"them (include_re=False is re_form='~0')")
        return []
    if re_form is None:
        return list(range(len(model_terms)))
    if _is_na(re_form):
        return []
    if not isinstance(re_form, str):
        raise InterlaceError(f"re_form must be None, '~0' or a formula string like '~ (1 | g)', "
                        f"got {type(re_form).__name__} {re_form!r}")
    text = re_form.strip()
    if text.replace(" ", "") in _NONE:
        return []
    if text.startswith("~"):
        text = text[1:].strip()
    if not text:
        raise FormulaError(f"re_form={re_form!r} names no terms; use '~0' for none")
    try:
        wanted = random_terms(text)
    except FormulaError as exc:
        raise FormulaError(f"re_form={re_form!r}: {exc}") from None
    keys = [_key(s) for s in model_terms]
    unknown = [str(s) for s in wanted if _key(s) not in keys]
    if unknown:
        have = ", ".join(str(s) for s in model_terms)
        raise FormulaError(f"re_form={re_form!r} names random term(s) the model does not have: "
                           f"{', '.join(unknown)}; the model's terms are {have}")
    chosen = {keys.index(_key(s)) for s in wanted}
    return sorted(chosen)
