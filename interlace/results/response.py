"""Residuals and response-scale predictions for models whose response is one number
per row with a family's mean and variance (GLMMs and LMMs; not ordinal responses).

:class:`ResponseResultMixin` is mixed into :class:`~interlace.glmm.result.GLMMResult` and
:class:`~interlace.lmm.result.LMMResult` next to :class:`~interlace.results.base.MixedModelResult`.
It reads ``family`` (``mean``, ``variance``, ``loglik``, ``has_dispersion``,
``scale_parameter``, ``zi_parameter``, ``dispersion_parameter``), ``link``, ``family_params``,
``fittedvalues`` and the model context.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError
from interlace.plotting import plot_residuals
from interlace.results.summary import scaled_residual_lines

PREDICT_TYPES = ("response", "link", "conditional", "zprob", "disp")


class ResponseResultMixin:
    """Residuals, ``predict`` and the residual plot of a scalar-response model (``simulate``
    is every result's: :meth:`~interlace.results.base.MixedModelResult.simulate`)."""

    _mu_linked: np.ndarray | None = None

    def _mu(self) -> np.ndarray:
        """The linked mean mu per row (E[y] = fittedvalues when the family has no zero part;
        results that do not set it, e.g. LMMs, have mu = E[y])."""
        if self._mu_linked is None:
            return self.fittedvalues.to_numpy()
        return self._mu_linked

    # -- residuals ----------------------------------------------------------------------
    @property
    def resid_response(self) -> pd.Series:
        """y - E[y]."""
        return pd.Series(self._ctx.design.y - self.fittedvalues.to_numpy(), name="resid")

    @property
    def resid_pearson(self) -> pd.Series:
        """(y - E[y]) / sqrt(Var(y) / weight)."""
        d = self._ctx.design
        var = self.family.variance(self._mu(), self.family_params) / d.weights
        return pd.Series((d.y - self.fittedvalues.to_numpy()) / np.sqrt(var), name="resid_pearson")

    @property
    def resid_deviance(self) -> pd.Series:
        """sign(y - mu) sqrt(2 (l_saturated - l_fitted)), R's default GLMM residual."""
        d = self._ctx.design
        mu = self._mu()
        fam, fp = self.family, self.family_params
        ysat = d.y
        dev = 2 * (fam.loglik(d.y, ysat, d.weights, fp) - fam.loglik(d.y, mu, d.weights, fp))
        if fam.has_dispersion:
            dev = dev * fp.get(fam.scale_parameter, 1.0) ** 2
        return pd.Series(np.sign(d.y - mu) * np.sqrt(np.maximum(dev, 0)), name="resid_deviance")

    def residuals(self, type: str = "deviance") -> pd.Series:  # noqa: A002 - R's argument name
        """Residuals of ``type`` "deviance" (default, as R), "pearson" or "response"."""
        table = {"deviance": "resid_deviance", "pearson": "resid_pearson",
                 "response": "resid_response"}
        if type not in table:
            raise ValueError(f"type must be one of {', '.join(table)}, got {type!r}")
        return getattr(self, table[type])

    @property
    def resid(self) -> pd.Series:
        """The deviance residuals."""
        return self.resid_deviance

    def _scaled_residual_lines(self) -> list[str]:
        """The summary's "Scaled residuals" section (Pearson residuals' quantiles)."""
        try:
            r = np.asarray(self.resid_pearson, float)
        except Exception:  # noqa: BLE001 - families without a variance function
            return []
        return scaled_residual_lines(r)

    def plot_residuals(self, type: str = "pearson", **kwargs):  # noqa: A002 - R's argument name
        """Residuals against fitted values and a normal Q-Q plot."""
        return plot_residuals(self, type=type, **kwargs)

    # -- prediction ---------------------------------------------------------------------
    _PREDICT_TYPES = PREDICT_TYPES

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "response",  # noqa: A002
                include_re: bool = True, offset: Any = None) -> np.ndarray:
        """Predictions; unseen levels get b = 0. ``type`` as glmmTMB's: ``"response"`` E[y],
        ``"link"`` the linear predictor, ``"conditional"`` the mean of the count part (mu for
        zero inflation, the zero-truncated mean for a hurdle; E[y] for families without a zero
        part), ``"zprob"`` the zero probability, ``"disp"`` the dispersion parameter."""
        if type not in self._PREDICT_TYPES:
            raise ValueError(f"type must be one of {', '.join(map(repr, self._PREDICT_TYPES))}, "
                             f"got {type!r}")
        if type in ("zprob", "disp"):
            return self._predict_parameter(newdata, type)
        eta = self._linear_predictor(newdata, include_re, offset)
        if type == "link":
            return eta
        mu = self.link.inverse(eta)
        params = self._params_for(newdata)
        zi = self.family.zi_parameter
        if type == "conditional":
            if zi is None:
                return mu
            params = dict(params, **{zi: 0.0})  # the count part alone (no structural zeros)
        return np.asarray(self.family.mean(mu, params), float)

    def _predict_parameter(self, newdata: pd.DataFrame | None, type: str) -> np.ndarray:  # noqa: A002
        """The zero probability ("zprob") or dispersion ("disp") per row."""
        attr = "zi_parameter" if type == "zprob" else "dispersion_parameter"
        name = getattr(self.family, attr, None)
        if name is None:
            raise ValueError(f"type={type!r}: family {self.family.name!r} has no "
                             f"{'zero probability' if type == 'zprob' else 'dispersion'}")
        n = self.nobs if newdata is None else len(newdata)
        return np.broadcast_to(self._params_for(newdata)[name], (n,)).astype(float)

    def _params_for(self, newdata: pd.DataFrame | None) -> dict:
        """Family parameters for the rows of ``newdata`` (the fit's rows if None): formula
        parameters from their linear predictor on the new rows."""
        pdes = self._ctx.design.param_designs
        if newdata is None or not pdes:
            return self.family_params
        out = dict(self.family_params)
        for name, pd_ in pdes.items():
            try:
                mm = pd_.spec.get_model_matrix(newdata, na_action="ignore")
            except Exception as exc:  # noqa: BLE001 - formulaic raises many types
                raise DataError(f"cannot build the formula '~ {pd_.formula}' of family "
                                f"parameter {name!r} for newdata: {exc}") from None
            Xn = np.asarray(mm, dtype=float)[:, pd_.kept_columns]
            z = np.clip(Xn @ self.family_coefs[name]["Estimate"].to_numpy(), -30.0, 30.0)
            out[name] = self.family.parameters[name].from_unconstrained(z)
        return out
