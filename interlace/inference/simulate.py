"""Responses drawn from a fitted model (lme4's ``simulate.merMod``).

Unconditional by default, as lme4's default (``re.form = NA``, ``use.u = FALSE``): each draw
takes new random effects b = Lambda u, u ~ N(0, I), from the fitted covariance, then the
response from the family given the linear predictor. ``conditional=True`` holds b at the
conditional modes (lme4's ``re.form = NULL``; on ``newdata`` its levels must be the fit's, as
``predict`` requires by default). Values are on the response's own scale as the formula
writes it: proportions for ``s / n`` and ``cbind(s, f)`` (with the trials as weights,
so that ``refit(simulate(...)[i])`` round-trips), the level labels of an ordinal or two-level
text response. Draw i uses replicate i's random stream (:mod:`interlace.inference.seeds`), so
``simulate(nsim, seed)[i]`` is the response that ``bootstrap(seed=seed)`` refits as its i-th.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError, InterlaceError
from interlace.inference.seeds import check_nsim, replicate_rng, seed_sequence
from interlace.model.grouping import group_codes, random_columns
from interlace.model.response import read_response


@dataclass
class RandomPart:
    """One random-effect term on the rows drawn for: its Z columns (n x k), each row's level
    code, the number of levels and the factor Lambda on the absolute scale (b = Lambda u)."""

    Z: np.ndarray
    codes: np.ndarray
    nlevels: int
    Lambda: np.ndarray

    def effect(self, b: np.ndarray) -> np.ndarray:
        """Z b per row, for b of shape (levels, k)."""
        return np.einsum("ij,ij->i", self.Z, b[self.codes])


@dataclass
class Simulator:
    """What drawing responses needs, small enough to send to worker processes: the response
    model (its ``simulate`` and link), the fixed part of the linear predictor, the random
    terms, the linear predictor at the conditional modes, prior weights and family parameters."""

    family: Any
    eta_fixed: np.ndarray
    parts: list[RandomPart]
    eta_modes: np.ndarray | None  # None: built for unconditional draws only
    weights: np.ndarray
    params: dict

    def draw(self, rng: np.random.Generator, conditional: bool = False) -> np.ndarray:
        """One response on the design's scale (category codes for an ordinal response): new
        random effects first (unconditional), then the family's draw given the mean."""
        if conditional and self.eta_modes is None:
            raise InterlaceError("this simulator was built for unconditional draws only")
        eta = self.eta_modes if conditional else self.eta_fixed + self.random_effects(rng)
        mu = self.family.link.inverse(eta)
        return np.asarray(self.family.simulate(mu, self.weights, self.params, rng), dtype=float)

    def random_effects(self, rng: np.random.Generator) -> np.ndarray:
        """Z b with b = Lambda u drawn afresh for every level of every term, term by term."""
        out = np.zeros(self.eta_fixed.shape[0])
        for part in self.parts:
            u = rng.standard_normal((part.nlevels, part.Lambda.shape[0]))
            out += part.effect(u @ part.Lambda.T)
        return out


def fitted_simulator(result: Any) -> Simulator:
    """The :class:`Simulator` of the rows a model was fitted to."""
    ctx = result.context
    d = ctx.design
    theta = result.theta_absolute
    lambdas = [t.Lambda(theta[sl]) for t, sl in zip(d.terms, ctx.theta_slices())]
    parts = [RandomPart(t.Z, t.codes, t.nlevels, L) for t, L in zip(d.terms, lambdas)]
    eta_fixed = d.offset + d.X @ result.fe_params.to_numpy(dtype=float)
    modes = ctx.u_blocks(result.spherical_modes)  # u per design term, (levels, k)
    eta_modes = eta_fixed.copy()
    for i, (part, L) in enumerate(zip(parts, lambdas)):
        eta_modes += part.effect(modes[i] @ L.T)
    return Simulator(ctx.family, eta_fixed, parts, eta_modes, d.weights, result.family_params)


def newdata_simulator(result: Any, newdata: pd.DataFrame, weights: Any = None,
                      conditional: bool = False) -> Simulator:
    """The :class:`Simulator` of the rows of ``newdata``: every level found there gets new
    random effects (unconditional draws), or, for ``conditional`` ones, the linear predictor
    of ``predict`` (its levels must be the fit's, as ``predict`` requires by default)."""
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    ctx = result.context
    d = ctx.design
    eta_fixed = np.asarray(result.predict(newdata, type="link", include_re=False), dtype=float)
    eta_modes = (np.asarray(result.predict(newdata, type="link"), dtype=float) if conditional
                 else None)
    bad = ~np.isfinite(eta_fixed if eta_modes is None else eta_modes)
    if bad.any():
        raise DataError(f"newdata has missing or infinite values in the model's columns at "
                        f"{int(bad.sum())} row(s) (the first: {newdata.index[np.argmax(bad)]!r})")
    theta = result.theta_absolute
    parts = []
    for t, sl in zip(d.terms, ctx.theta_slices()):
        spec = next(s for s in d.parsed.random if s.group == t.group and s.expr == t.expr)
        missing = [v for v in spec.group_vars if v not in newdata.columns]
        if missing:
            raise DataError(f"newdata lacks grouping column(s) {missing} needed by {t.label}")
        Z, _ = random_columns(spec, newdata)
        codes, levels = group_codes(newdata, spec.group)
        if np.any(codes < 0):
            raise DataError(f"newdata has missing values in the grouping factor {t.group!r} of "
                            f"{t.label}")
        parts.append(RandomPart(Z, codes, len(levels), t.Lambda(theta[sl])))
    return Simulator(ctx.family, eta_fixed, parts, eta_modes,
                     newdata_weights(result, newdata, weights), newdata_params(result, newdata))


def newdata_weights(result: Any, newdata: pd.DataFrame, weights: Any = None) -> np.ndarray:
    """Prior weights of newdata's rows: ``weights`` when given (trials included, for
    ``s / n``), else the trials read from newdata's response columns for a successes/trials
    response, else 1."""
    n = len(newdata)
    if weights is not None:
        w = np.broadcast_to(np.asarray(weights, dtype=float), (n,)).copy()
        if not np.all(np.isfinite(w) & (w > 0)):
            raise DataError("weights must be positive finite numbers, one per row of newdata")
        return w
    ctx = result.context
    resp = ctx.design.parsed.response
    if not (getattr(ctx.family, "trials_response", False) and resp.kind in ("ratio", "cbind")):
        return np.ones(n)
    try:
        _, trials, _ = read_response(resp, newdata, ctx.family, newdata.index)
    except Exception as exc:  # noqa: BLE001 - the columns may be missing in many ways
        raise DataError(f"the response {resp.text!r} gives each row's number of trials: newdata "
                        f"needs its columns ({', '.join(resp.exprs)}), or pass weights= (the "
                        f"trials per row); reading them failed: {exc}") from None
    return np.asarray(trials, dtype=float)


def newdata_params(result: Any, newdata: pd.DataFrame) -> dict:
    """Family parameters for newdata's rows: those with a formula (``ziformula``,
    ``dispformula``) from their predictions there, the others as fitted."""
    params = dict(result.family_params)
    fam = result.context.family
    for name in result.parameter_formulas:
        kind = "zprob" if name == getattr(fam, "zi_parameter", None) else "disp"
        params[name] = np.asarray(result.predict(newdata, type=kind), dtype=float)
    return params


def simulate(result: Any, nsim: int = 1, seed: Any = None, conditional: bool = False,
             newdata: pd.DataFrame | None = None, weights: Any = None) -> np.ndarray:
    """``nsim`` responses drawn from the fitted model, one row each (an nsim x n array): see
    the module doc. ``newdata`` draws for its rows instead of the fitted ones (``weights``:
    their prior weights, see :func:`newdata_weights`)."""
    nsim = check_nsim(nsim)
    sim = (fitted_simulator(result) if newdata is None
           else newdata_simulator(result, newdata, weights, bool(conditional)))
    if newdata is None and weights is not None:
        raise DataError("weights= is for newdata's rows; the fitted rows keep the fit's weights")
    root = seed_sequence(seed)
    draws = np.vstack([sim.draw(replicate_rng(root, i), bool(conditional)) for i in range(nsim)])
    return result.response_from_design(draws)
