"""Likelihood profiles and profile intervals (``result.profile()``, ``conf_int(method="profile")``).

References: tests/reference/profile_ci.json, written by profile_ci.R from lme4 1.1-31's
``confint(m, method = "profile", oldNames = FALSE)`` (95%), ``confint(profile(m), level =
0.99 / 0.8)`` and rows of ``as.data.frame(profile(m))`` (zeta at parameter values). lme4
profiles an lmer fit on the ML deviance also when it was fitted by REML (``devfun2`` calls
``refitML``), so the REML and ML fits of sleepstudy have the same intervals there and here.
lme4's names differ from interlace's (``sd_`` / ``sd__``, ``period2`` / ``period[T.2]``); rows
are compared in lme4's order, which both share.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from fixtures import REF_DIR, load_reference
from scipy import optimize, stats

import interlace
from interlace.errors import InterlaceError, InterlaceWarning
from interlace.glmm import glmm_objective

REF = load_reference("profile_ci.json")["fixtures"]
BOUNDARY = REF_DIR / "data" / "profile_boundary.csv"

CASES = {
    "cbpp": lambda: interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                    interlace.load_dataset("cbpp"), family="binomial"),
    "sleep_reml": lambda: interlace.fit("Reaction ~ Days + (Days | Subject)",
                                        interlace.load_dataset("sleepstudy")),
    "sleep_ml": lambda: interlace.fit("Reaction ~ Days + (Days | Subject)",
                                      interlace.load_dataset("sleepstudy"), method="ML"),
    "sleep_uncorr": lambda: interlace.fit("Reaction ~ Days + (Days || Subject)",
                                          interlace.load_dataset("sleepstudy")),
    "boundary_small": lambda: interlace.fit("y_small ~ x + (1 | g)",
                                            pd.read_csv(BOUNDARY, dtype={"g": str})),
    "boundary_zero": lambda: interlace.fit("y_zero ~ x + (1 | g)",
                                           pd.read_csv(BOUNDARY, dtype={"g": str})),
    "grouseticks": lambda: interlace.glmer(
        "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
        interlace.load_dataset("grouseticks"), family="poisson"),
}
# lme4 orders random terms by their number of levels, interlace as the formula does
LME4_ORDER = {"grouseticks": [1, 0, 2, 3, 4, 5, 6]}


@pytest.fixture(scope="module")
def profiles() -> dict:
    """Each reference model's profile (computed once: about 0.3 s for all of them)."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InterlaceWarning)  # boundary_zero is a singular fit
        for key, make in CASES.items():
            fit = make()
            out[key] = (fit, fit.profile())
    return out


def reference_table(key: str, level: str) -> pd.DataFrame:
    rows = REF[key][level]
    return pd.DataFrame({"lower": [r["lower"] for r in rows], "upper": [r["upper"] for r in rows]},
                        index=[r["parameter"] for r in rows])


@pytest.mark.parametrize("key", list(CASES))
def test_profile_intervals_match_lme4(profiles, key):
    """lme4's confint(m, method = "profile") within 5e-3 (absolute; relative 2e-5 on
    SDs in the tens, the largest differences being lme4's own spline error), at 95%, 99%, 80%."""
    fit, pr = profiles[key]
    for level, name, atol in ((0.95, "ci95", 5e-3), (0.99, "ci99", 2e-2), (0.8, "ci80", 5e-3)):
        ref = reference_table(key, name)
        ours = pr.conf_int(level)
        ours = ours.iloc[LME4_ORDER.get(key, range(len(ours)))]
        assert len(ours) == len(ref) == len(fit.natural_params)
        for col in ("lower", "upper"):
            np.testing.assert_allclose(ours[col].to_numpy(), ref[col].to_numpy(), atol=atol,
                                       rtol=5e-4, err_msg=f"{key} {name} {col}")


def test_conf_int_profile_is_the_profile_interval(profiles):
    """The dispatcher (conf_int(method="profile")) gives the table read off profile()."""
    fit, pr = profiles["sleep_reml"]
    ci = fit.conf_int(method="profile")
    np.testing.assert_allclose(ci.to_numpy(), pr.conf_int(0.95).to_numpy(), rtol=1e-10)
    ref = reference_table("sleep_reml", "ci95")
    np.testing.assert_allclose(ci.to_numpy(), ref.to_numpy(), atol=5e-3, rtol=5e-4)
    fixed = fit.conf_int(method="profile", parm="fixed", level=0.99)  # profiles only those
    assert list(fixed.index) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(fixed.to_numpy(), pr.conf_int(0.99).loc[fixed.index].to_numpy(),
                               rtol=1e-6)
    wide = fit.conf_int(method="profile", parm="sigma", level=0.999)  # profiled far enough
    assert wide.loc["sigma", "lower"] < pr.conf_int(0.99).loc["sigma", "lower"]


def test_zeta_tables_match_lme4(profiles):
    """zeta at lme4's profile points (as.data.frame(profile(m))), by our spline, within 2e-3;
    lme4's profiles reach |zeta| = sqrt(qchisq(0.99, #parameters)) (about 4.2), so these reach
    4.4 (alphamax = 1e-5)."""
    for key in ("cbpp", "sleep_reml", "boundary_small"):
        fit = profiles[key][0]
        pr = fit.profile(alphamax=1e-5)
        lme4_names = [r["parameter"] for r in REF[key]["ci95"]]
        ours = dict(zip(lme4_names, fit.natural_params.index))
        for row in REF[key]["zeta"]:
            got = pr.zeta_at(ours[row["parameter"]], row["value"])[0]
            assert got == pytest.approx(row["zeta"], abs=2e-3), (key, row)


def test_reml_fit_is_profiled_on_the_ml_deviance(profiles):
    """As lme4 does: the REML and ML fits of one model have one profile, centred on the ML
    estimates (the REML fit's SDs are larger)."""
    reml, p_reml = profiles["sleep_reml"]
    ml, p_ml = profiles["sleep_ml"]
    np.testing.assert_allclose(p_reml.estimates, ml.natural_params, rtol=1e-6)
    assert reml.natural_params.iloc[0] > p_reml.estimates.iloc[0]
    np.testing.assert_allclose(p_reml.conf_int().to_numpy(), p_ml.conf_int().to_numpy(),
                               rtol=1e-6)
    assert p_ml.deviance == pytest.approx(ml.deviance, rel=1e-10)


def test_boundary_sd_gets_zero_lower_limit(profiles):
    """An SD whose profile does not reach -z before 0 gets 0 (lme4 reports 0 too), whether the
    estimate is above 0 (its table ends at 0) or at 0 (profiled upwards only)."""
    _, small = profiles["boundary_small"]
    table = small.zeta("sd__(Intercept)|g")
    assert table["value"].iloc[0] == 0.0 and -1.96 < table["zeta"].iloc[0] < 0
    assert small.conf_int().loc["sd__(Intercept)|g", "lower"] == 0.0
    _, zero = profiles["boundary_zero"]
    table = zero.zeta("sd__(Intercept)|g")
    assert table["zeta"].iloc[0] == 0.0 and (table["zeta"].iloc[1:] > 0).all()
    assert zero.conf_int(0.5).loc["sd__(Intercept)|g", "lower"] == 0.0


def test_frame_holds_every_parameter_at_every_point(profiles):
    fit, pr = profiles["cbpp"]
    frame = pr.frame()
    assert list(frame.columns[:3]) == ["parameter", "value", "zeta"]
    assert list(frame.columns[3:]) == list(fit.natural_params.index)
    focal = frame.apply(lambda r: r[r["parameter"]], axis=1)
    np.testing.assert_allclose(focal, frame["value"], rtol=1e-12)
    at_est = frame[frame["zeta"] == 0.0]
    assert len(at_est) == len(pr.names)
    np.testing.assert_allclose(at_est.iloc[:, 3:].to_numpy(dtype=float),
                               np.tile(fit.natural_params.to_numpy(), (len(pr.names), 1)),
                               rtol=1e-6, atol=1e-8)


def constrained_zeta(dev, x0, base, constraint, value, bounds) -> float:
    """|zeta| by brute force: the deviance minimised under an equality constraint (SLSQP on
    the public objective, independent of the profile's charts)."""
    res = optimize.minimize(dev, x0, method="SLSQP", bounds=bounds,
                            constraints=[{"type": "eq", "fun": lambda x: constraint(x) - value}],
                            options={"ftol": 1e-12, "maxiter": 500})
    return float(np.sqrt(max(res.fun - base, 0.0)))


def test_family_parameter_profile_by_brute_force():
    """nbinom2's theta is profiled on log theta and reported on theta's scale: at its 95%
    limits the deviance minimised with theta held there is 1.96^2 above the minimum."""
    sal = interlace.load_dataset("Salamanders")
    fit = interlace.glmer("count ~ mined + (1 | site)", sal, family="nbinom2")
    pr = fit.profile(which="theta")
    ci = pr.conf_int()
    assert ci.loc["theta", "lower"] < fit.natural_params["theta"] < ci.loc["theta", "upper"]
    dev = glmm_objective(fit.context)
    x0 = np.concatenate([fit.theta_absolute, fit.fe_params, [np.log(fit.family_params["theta"])]])
    base = dev(x0)
    bounds = [(0, None), (None, None), (None, None), (-30, 30)]
    for side in ("lower", "upper"):
        z = constrained_zeta(dev, x0, base, lambda x: np.exp(x[-1]), ci.loc["theta", side],
                             bounds)
        assert z == pytest.approx(stats.norm.ppf(0.975), abs=2e-3)


def test_ordinal_thresholds_profile_by_brute_force():
    """A CLMM's thresholds (ordinal's ``clmm`` has no profile): tau_3 is profiled on a chart
    anchored at it; the constrained minimum at its limits is 1.96^2 above the minimum; zeta is
    increasing and 0 at the estimate for every parameter."""
    wine = interlace.load_dataset("wine")
    fit = interlace.clmm("rating ~ temp + (1 | judge)", wine)
    pr = fit.profile()
    ci = pr.conf_int()
    est = fit.natural_params
    assert (ci["lower"] < est).all() and (est < ci["upper"]).all()
    for name in pr.names:
        z = pr.zeta(name)
        assert (np.diff(z["zeta"]) > 0).all() and (np.diff(z["value"]) > 0).all()
        assert z.loc[z["zeta"] == 0, "value"].item() == pytest.approx(est[name], rel=1e-6)
    dev = glmm_objective(fit.context)
    fp = fit.family_params
    z0 = [fp["threshold_1"]] + [np.log(fp[f"spacing_{j}"]) for j in (2, 3, 4)]
    x0 = np.concatenate([fit.theta_absolute, fit.fe_params, z0])
    base = dev(x0)
    nt, p = fit.theta_absolute.size, fit.fe_params.size

    def tau3(x):
        z = x[nt + p:]
        return z[0] + np.exp(z[1]) + np.exp(z[2])

    bounds = [(0, None)] * nt + [(None, None)] * (p + 4)
    for side in ("lower", "upper"):
        z = constrained_zeta(dev, x0, base, tau3, ci.loc["3|4", side], bounds)
        assert z == pytest.approx(stats.norm.ppf(0.975), abs=2e-3)


def test_plot_profile_draws_one_panel_per_parameter(profiles):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, pr = profiles["sleep_reml"]
    fig = pr.plot()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == pr.names
    plt.close(fig)
    fit, _ = profiles["boundary_small"]
    fig = fit.plot_profile(which="fixed", absolute=True)
    assert [ax.get_xlabel() for ax in fig.axes if ax.get_visible()] == ["(Intercept)", "x"]
    plt.close(fig)


def test_bad_input(profiles):
    fit, pr = profiles["boundary_small"]
    with pytest.raises(InterlaceError, match="alphamax"):
        fit.profile(alphamax=1.5)
    with pytest.raises(InterlaceError, match="maxpts"):
        fit.profile(maxpts=1)
    with pytest.raises(InterlaceError, match="delta"):
        fit.profile(delta=-1)
    with pytest.raises(InterlaceError, match="xx"):
        fit.profile(which="xx")
    with pytest.raises(InterlaceError, match="alphamax <= 0.001"):
        pr.conf_int(0.999)  # the default profile reaches |zeta| = 2.58 only
    with pytest.raises(InterlaceError, match="was not profiled"):
        fit.profile(which="x").zeta("sigma")
