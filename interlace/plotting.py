"""Plots of a fitted mixed model (matplotlib, the optional ``plot`` extra).

``pip install "interlace[plot]"``; then ``result.plot_caterpillar()``, ``result.plot_fitted()``
and ``result.plot_residuals()`` (thin wrappers of the functions here) return matplotlib
figures. Nothing is shown or saved: call ``fig.savefig(...)`` or ``plt.show()``.

* :func:`conditional_variances`: the conditional (posterior) variances of the random effects
  at the conditional modes, lme4's ``ranef(fit, condVar = TRUE)``: with the penalised system
  M = Lambda' Z' W Z Lambda + I at the modes, Var(u | y) is approximated by M^-1 and
  Var(b | y) = Lambda M^-1 Lambda' (conditional on the estimated beta and theta).
* :func:`plot_caterpillar`: the modes of each term, sorted, with normal intervals.
* :func:`plot_fitted`: observed against fitted values, with the identity line.
* :func:`plot_residuals`: residuals against fitted values and a normal Q-Q plot.
* :func:`plot_profile`: likelihood profiles, zeta against each parameter (lme4's ``xyplot`` of
  ``profile(fit)``), from a :class:`~interlace.inference.profile.Profile`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InterlaceError(
            'plotting needs matplotlib: pip install "interlace[plot]"') from exc
    return plt


def conditional_variances(result) -> dict[str, pd.DataFrame]:
    """Conditional variances of the random effects, per term: a DataFrame shaped like
    ``result.random_effects[term]`` (levels x columns) holding Var(b | y) at the modes
    (``result.conditional_variances()``, lme4's ``condVar``)."""
    return result.conditional_variances()


def plot_caterpillar(result, term: str | None = None, level: float = 0.95,
                     columns: list[str] | None = None, ax: Any = None):
    """Caterpillar plot: the conditional modes of one random term with ``level`` intervals.

    ``term`` is a key of ``result.random_effects`` (default: the first); one panel per column
    of the term (intercept, slopes), levels sorted by the first panel's mode. Returns the
    figure; ``ax`` may give the axes (one per column) to draw into.
    """
    plt = _pyplot()
    keys = list(result.random_effects)
    term = keys[0] if term is None else term
    if term not in result.random_effects:
        raise InterlaceError(f"no random term {term!r}; terms: {', '.join(keys)}")
    modes = result.random_effects[term]
    cols = list(modes.columns) if columns is None else list(columns)
    try:
        sd = np.sqrt(conditional_variances(result)[term])
    except (InterlaceError, AttributeError, np.linalg.LinAlgError, ValueError):
        sd = None  # modes without intervals
    z = stats.norm.ppf(0.5 + level / 2)
    order = np.argsort(modes[cols[0]].to_numpy())
    if ax is None:
        fig, axes = plt.subplots(1, len(cols), sharey=True,
                                 figsize=(3.2 * len(cols) + 1, max(3.0, 0.18 * len(modes) + 1)),
                                 squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(np.atleast_1d(ax))
        fig = axes[0].figure
    ypos = np.arange(len(modes))
    labels = [str(v) for v in modes.index[order]]
    for a, col in zip(axes, cols):
        m = modes[col].to_numpy()[order]
        if sd is not None:
            err = z * sd[col].to_numpy()[order]
            a.errorbar(m, ypos, xerr=err, fmt="o", ms=3, color="C0", ecolor="0.5", capsize=0)
        else:
            a.plot(m, ypos, "o", ms=3, color="C0")
        a.axvline(0.0, color="0.3", lw=0.8, ls="--")
        a.set_xlabel(f"{col} (conditional mode)")
        a.set_title(f"{term}: {col}")
    axes[0].set_yticks(ypos)
    axes[0].set_yticklabels(labels, fontsize=7 if len(labels) > 30 else 9)
    axes[0].set_ylabel(f"{term} (level)")
    fig.suptitle(f"Random effects with {level:.0%} intervals" if sd is not None
                 else "Random effects (conditional modes)")
    fig.tight_layout()
    return fig


def _observed(result) -> np.ndarray:
    return np.asarray(result.design.y, dtype=float)


def plot_fitted(result, ax: Any = None):
    """Observed response against fitted values (response scale, with the random effects)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5)) if ax is None else (ax.figure, ax)
    y = _observed(result)
    fitted = np.asarray(result.fittedvalues, dtype=float)
    if y.shape != fitted.shape:
        raise InterlaceError("fitted vs observed needs one fitted value per observation")
    ax.scatter(fitted, y, s=12, alpha=0.6, color="C0", edgecolors="none")
    lo = float(np.nanmin([fitted.min(), y.min()]))
    hi = float(np.nanmax([fitted.max(), y.max()]))
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=1, ls="--", label="observed = fitted")
    ax.set_xlabel("fitted value (response scale)")
    ax.set_ylabel("observed")
    ax.set_title("Observed vs fitted")
    ax.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def plot_residuals(result, type: str = "pearson", axes: Any = None):  # noqa: A002 - R's name
    """Residual diagnostics: residuals against fitted values, and a normal Q-Q plot."""
    plt = _pyplot()
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    else:
        fig = axes[0].figure
    r = np.asarray(result.residuals(type), dtype=float)
    fitted = np.asarray(result.fittedvalues, dtype=float)
    ok = np.isfinite(r) & np.isfinite(fitted)
    a0, a1 = axes[0], axes[1]
    a0.scatter(fitted[ok], r[ok], s=12, alpha=0.6, color="C0", edgecolors="none")
    a0.axhline(0.0, color="0.3", lw=1, ls="--")
    if ok.sum() > 10:  # a running median shows a trend the eye misses in a cloud
        o = np.argsort(fitted[ok])
        k = max(9, ok.sum() // 10)
        med = pd.Series(r[ok][o]).rolling(k, center=True, min_periods=1).median()
        a0.plot(fitted[ok][o], med.to_numpy(), color="C3", lw=1.5, label="running median")
        a0.legend(loc="best", frameon=False)
    a0.set_xlabel("fitted value (response scale)")
    a0.set_ylabel(f"{type} residual")
    a0.set_title("Residuals vs fitted")
    (osm, osr), (slope, intercept, _) = stats.probplot(r[ok], dist="norm")
    a1.scatter(osm, osr, s=12, alpha=0.6, color="C0", edgecolors="none")
    a1.plot(osm, intercept + slope * osm, color="0.3", lw=1, ls="--")
    a1.set_xlabel("theoretical normal quantile")
    a1.set_ylabel(f"{type} residual (ordered)")
    a1.set_title("Normal Q-Q")
    fig.tight_layout()
    return fig


def plot_profile(profile, parameters: list[str] | None = None,
                 levels: tuple = (0.5, 0.8, 0.9, 0.95, 0.99), absolute: bool = False,
                 axes: Any = None):
    """zeta (or |zeta| with ``absolute``) against each profiled parameter, one panel each
    (lme4's ``xyplot(profile(fit))``): the spline through the profile's points, the points,
    and the intervals of ``levels`` as drop lines. ``profile`` is a
    :class:`~interlace.inference.profile.Profile` (``result.profile()``); ``axes`` may give
    one axes per parameter. Returns the figure."""
    plt = _pyplot()
    names = profile.names if parameters is None else list(parameters)
    if not names:
        raise InterlaceError("the profile holds no parameters to plot")
    if axes is None:
        ncol = min(3, len(names))
        nrow = -(-len(names) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.0 * nrow), squeeze=False)
        for ax in axes.ravel()[len(names):]:
            ax.set_visible(False)
        axes = axes.ravel()
    else:
        axes = np.ravel(axes)
        fig = axes[0].figure
    levels = [lv for lv in levels if stats.norm.ppf(0.5 + lv / 2) <= profile.cutoff + 1e-9]
    intervals = {lv: profile.conf_int(lv) for lv in levels}
    for ax, name in zip(axes, names):
        x, z = profile.curve(name)
        table = profile.zeta(name)
        fz = np.abs if absolute else (lambda v: v)
        ax.plot(x, fz(z), color="C0", lw=1.5)
        ax.scatter(table["value"], fz(table["zeta"]), s=10, color="C0", zorder=3)
        for lv, ci in intervals.items():
            zq = float(stats.norm.ppf(0.5 + lv / 2))
            for side, zs in (("lower", -zq), ("upper", zq)):
                v = float(ci.loc[name, side])
                if np.isfinite(v):
                    ax.plot([v, v], [0.0, fz(zs)], color="0.6", lw=0.8, ls=":")
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xlabel(name)
        ax.set_ylabel("|zeta|" if absolute else "zeta")
    fig.tight_layout()
    return fig


def plot_simulated_residuals(sim: Any, ax: Any = None):
    """DHARMa's residual plot of a :class:`~interlace.checks.residuals.SimulatedResiduals`:
    a QQ plot of the scaled residuals against U(0, 1) (with the KS p-value) and the residuals
    against the rank of the fitted values, with lines at 0.25, 0.5 and 0.75."""
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 4.5))
    else:
        fig = ax[0].figure
    r = np.sort(sim.residuals)
    n = r.shape[0]
    expected = (np.arange(1, n + 1) - 0.5) / n
    ks = sim.test_uniformity()
    ax[0].plot(expected, r, ".", markersize=3)
    ax[0].plot([0, 1], [0, 1], color="red", linewidth=1)
    ax[0].set(xlabel="expected", ylabel="observed", title=f"QQ plot, KS p = {ks.p_value:.3g}")
    rank = stats.rankdata(sim.fitted) / n
    ax[1].plot(rank, sim.residuals, ".", markersize=3)
    for q in (0.25, 0.5, 0.75):
        ax[1].axhline(q, color="grey", linestyle="--", linewidth=1)
    ax[1].set(xlabel="model predictions (rank transformed)", ylabel="scaled residual",
              ylim=(0, 1), title="Residuals against predicted")
    return fig
