"""The family contract's per-row outputs, checked once per fit before any optimisation.

``initialize``, ``loglik`` and, where the class implements them itself, ``loglik_kernel``,
``score_mu``, ``info_mu``, ``obs_info_mu``, ``unit_variance`` and ``unit_variance_deriv`` must
return a float numpy array with one value per row. A family that returns n - 1 values, a list,
or strings would otherwise give a wrong log-likelihood or fail deep inside the fitting loop;
:func:`check_family_outputs` turns that into a :class:`~interlace.errors.PluginError` naming the
family, its class and the method.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interlace.errors import PluginError

CHECK_ROWS = 256  # rows the per-row methods are evaluated on
_DEFAULTS_MODULE = "interlace.families.base"  # where the contract's default methods live

#: Per-row methods checked where the class implements them itself (interlace's defaults in
#: ``families.base`` derive from ``loglik`` or ``unit_variance``, which are checked), with
#: whether they take ``(y, mu, weights, params)`` (True) or ``(mu, params)`` (False).
OVERRIDABLE = {"loglik_kernel": True, "score_mu": True, "info_mu": True, "obs_info_mu": True,
               "unit_variance": False, "unit_variance_deriv": False}


def check_family_outputs(family: Any, y: np.ndarray, weights: np.ndarray,
                         params: dict[str, Any]) -> None:
    """Raise PluginError unless the family's per-row methods return one float per row.

    The methods are evaluated on the first rows only (at most ``CHECK_ROWS``): their shape
    and type do not depend on how many rows there are, and the check must cost nothing
    next to a fit (evaluating a binomial's log-density on 200,000 rows took 23 ms)."""
    rows = len(y)
    n = min(rows, CHECK_ROWS)
    y, weights = y[:n], weights[:n]
    params = {k: (v[:n] if np.ndim(v) == 1 and len(v) == rows else v) for k, v in params.items()}
    mu = family.initialize(y, weights)
    _check(family, "initialize", mu, n)
    cls = type(family)
    with np.errstate(all="ignore"):
        _check(family, "loglik", family.loglik(y, mu, weights, params), n)
        for method, per_row in OVERRIDABLE.items():
            impl = getattr(cls, method, None)
            if impl is None or getattr(impl, "__module__", None) == _DEFAULTS_MODULE:
                continue
            args = (y, mu, weights, params) if per_row else (mu, params)
            _check(family, method, getattr(family, method)(*args), n)


def _check(family: Any, method: str, out: Any, n: int) -> None:
    """One method's output: a float ndarray of shape (n,)."""
    if isinstance(out, np.ndarray) and out.dtype.kind == "f" and out.shape == (n,):
        return
    if not isinstance(out, np.ndarray):
        got = f"a {type(out).__name__}"
        if isinstance(out, (list, tuple)) and out:
            got += f" of {type(out[0]).__name__}"
    elif out.dtype.kind != "f":
        got = f"an array of dtype {out.dtype} (shape {out.shape})"
    else:
        got = f"shape {out.shape}"
    raise PluginError(
        f"family {getattr(family, 'name', '')!r} ({type(family).__module__}."
        f"{type(family).__qualname__}).{method} returned {got} for {n} rows; it must return one "
        f"value per row, a float numpy array of shape ({n},)")
