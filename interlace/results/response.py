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

from interlace.errors import DataError, UnsupportedModelError
from interlace.plotting import plot_residuals
from interlace.results.prediction import prediction_eta, prediction_rows, prepared_newdata
from interlace.results.prediction_se import check_interval_arguments, prediction_se, se_table
from interlace.results.re_form import included_terms
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
                include_re: bool = True, re_form: Any = None, allow_new_levels: bool = False,
                se_fit: bool = False, interval: str | None = None, level: float = 0.95,
                offset: Any = None) -> np.ndarray | pd.DataFrame:
        """Predictions for the fitted rows (``newdata=None``) or for ``newdata``.

        ``type`` as glmmTMB's: ``"response"`` E[y], ``"link"`` the linear predictor,
        ``"conditional"`` the mean of the count part (mu for zero inflation, the zero-truncated
        mean for a hurdle; E[y] for families without a zero part), ``"zprob"`` the zero
        probability, ``"disp"`` the dispersion parameter.

        ``re_form`` picks the random terms included (lme4's ``re.form``): None all, ``"~0"``
        (or NaN) none, or a formula such as ``"~ (1 | herd)"`` naming some of the model's
        terms; ``include_re=False`` is ``re_form="~0"``. newdata's columns are converted to
        the kind and levels they had when fitting (so integers, text and categories give the
        same answer); a missing value or an unseen level of a predictor raises a DataError
        naming the column and value, and so does a group not seen when fitting unless
        ``allow_new_levels`` (then its random effect is 0). ``offset`` adds to newdata's
        linear predictor (the formula's offsets are read from newdata).

        ``se_fit=True`` returns a DataFrame with ``fit`` and ``se_fit``; ``interval=
        "confidence"`` adds ``lower`` and ``upper`` at ``level`` (normal quantiles; on the
        response scale the link-scale interval mapped through the inverse link, so it stays
        in the mean's range). Standard errors are the delta method's: on the link scale
        sqrt(x' V x) with V = ``vcov`` when no random term is included (glmmTMB's
        ``predict(se.fit = TRUE, re.form = NA)``); with random terms, glmmTMB's generalised
        delta method (``re.form = NULL``), which covers the conditional variance of the
        included modes (jointly, with their covariance) and the uncertainty of all the
        estimates (beta, the variance parameters and the family's) carried through the
        modes (the modes' conditional covariance from the exact Hessian in u, as TMB's); a
        new group contributes its prior variance. They agree with glmmTMB's to 2e-6 on cbpp,
        Salamanders and sleepstudy (tests/test_predict.py). They are for the mean, not for
        a new observation around it. On the response scale se(mu) = |d mu / d eta| se(eta).
        For zero-part families only ``"link"`` and a ``"conditional"`` equal to mu have
        standard errors.
        """
        if type not in self._PREDICT_TYPES:
            raise ValueError(f"type must be one of {', '.join(map(repr, self._PREDICT_TYPES))}, "
                             f"got {type!r}")
        d = self._ctx.design
        terms = included_terms(d.parsed.random, re_form, include_re)
        want_se = check_interval_arguments(se_fit, interval, level)
        if type in ("zprob", "disp"):
            if want_se:
                raise UnsupportedModelError(f"se_fit / interval for type={type!r} are not "
                                            f"available; use type='link'")
            return self._predict_parameter(newdata, type)
        rows = prediction_rows(d, newdata, terms, allow_new_levels, offset)
        eta = prediction_eta(d, rows, self.fe_params.to_numpy(), self._mode_arrays, self._eta)
        params = self._params_for(rows.frame)
        fit = self._on_scale(eta, type, params)
        if not want_se:
            return fit
        se_eta = prediction_se(rows, self._ctx, self.vcov.to_numpy(dtype=float),
                               self._theta_abs, self._sensitivity)
        return self._se_frame(fit, eta, se_eta, type, interval, level,
                              newdata.index if newdata is not None else None)

    def _mode_arrays(self) -> list[np.ndarray]:
        """Every term's conditional modes b as (levels, k) arrays, in the design's order."""
        return [b.to_numpy() for b in self.random_effects.values()]

    def _on_scale(self, eta: np.ndarray, type: str, params: dict) -> np.ndarray:  # noqa: A002
        """The linear predictor on the scale ``type`` asks for."""
        if type == "link":
            return eta
        mu = self.link.inverse(eta)
        zi = self.family.zi_parameter
        if type == "conditional":
            if zi is None:
                return mu
            params = dict(params, **{zi: 0.0})  # the count part alone (no structural zeros)
        return np.asarray(self.family.mean(mu, params), float)

    def _sensitivity(self):
        """The kind's :class:`~interlace.results.prediction_se.Sensitivity`, made once."""
        if "_prediction_sens" not in self.__dict__:
            self.__dict__["_prediction_sens"] = self._prediction_sensitivity()
        return self.__dict__["_prediction_sens"]

    def _prediction_sensitivity(self):
        """How predictions move with the estimates (each kind's own)."""
        raise UnsupportedModelError(f"{type(self).__name__} gives no standard errors for "
                                    f"predictions with random effects; use re_form='~0'")

    def _se_frame(self, fit: np.ndarray, eta: np.ndarray, se_eta: np.ndarray, type: str,  # noqa: A002
                  interval: str | None, level: float, index: pd.Index | None) -> pd.DataFrame:
        """fit, se_fit (and lower, upper) on the scale of ``type``: the delta method where the
        prediction is the inverse link of eta."""
        if type == "link":
            return se_table(fit, se_eta, eta, se_eta, None, interval, level, index)
        mu = self.link.inverse(eta)
        if not np.allclose(fit, mu, rtol=1e-12, atol=0.0):
            raise UnsupportedModelError(
                f"se_fit / interval for type={type!r} of family {self.family.name!r}: the "
                f"prediction depends on the zero part as well as on the linear predictor; use "
                f"type='link'" + (" or 'conditional'" if type == "response" else ""))
        se = np.abs(self.link.mu_eta(eta)) * se_eta
        return se_table(fit, se, eta, se_eta, self.link.inverse, interval, level, index)

    def _predict_parameter(self, newdata: pd.DataFrame | None, type: str) -> np.ndarray:  # noqa: A002
        """The zero probability ("zprob") or dispersion ("disp") per row."""
        attr = "zi_parameter" if type == "zprob" else "dispersion_parameter"
        name = getattr(self.family, attr, None)
        if name is None:
            raise ValueError(f"type={type!r}: family {self.family.name!r} has no "
                             f"{'zero probability' if type == 'zprob' else 'dispersion'}")
        frame = None
        if newdata is not None:
            frame = prepared_newdata(self._ctx.design, newdata, None, params_only=True).frame
        n = self.nobs if newdata is None else len(newdata)
        return np.broadcast_to(self._params_for(frame)[name], (n,)).astype(float)

    def _params_for(self, frame: pd.DataFrame | None) -> dict:
        """Family parameters for the rows of a prepared new-data ``frame`` (the fit's rows if
        None): formula parameters from their linear predictor on the new rows."""
        pdes = self._ctx.design.param_designs
        if frame is None or not pdes:
            return self.family_params
        out = dict(self.family_params)
        for name, pd_ in pdes.items():
            try:
                mm = pd_.spec.get_model_matrix(frame, na_action="ignore")
            except Exception as exc:  # noqa: BLE001 - formulaic raises many types
                raise DataError(f"cannot build the formula '~ {pd_.formula}' of family "
                                f"parameter {name!r} for newdata: {exc}") from None
            Xn = np.asarray(mm, dtype=float)[:, pd_.kept_columns]
            z = np.clip(Xn @ self.family_coefs[name]["Estimate"].to_numpy(), -30.0, 30.0)
            out[name] = self.family.parameters[name].from_unconstrained(z)
        return out
