"""result.plot_* (interlace.plotting) with matplotlib's Agg backend: figures are made, axes are
labelled, and the caterpillar intervals use the right conditional variances."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import interlace  # noqa: E402
from interlace.plotting import conditional_variances  # noqa: E402


@pytest.fixture(scope="module")
def lmm():
    return interlace.fit("Reaction ~ Days + (Days | Subject)", interlace.load_dataset("sleepstudy"))


@pytest.fixture(scope="module")
def glmm():
    return interlace.glmer("incidence / size ~ period + (1 | herd)", interlace.load_dataset("cbpp"),
                           family="binomial")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_conditional_variance_of_a_random_intercept_lmm_is_exact():
    pen = interlace.load_dataset("Penicillin")
    r = interlace.fit("diameter ~ 1 + (1 | sample)", pen)
    cv = conditional_variances(r)["sample"].iloc[:, 0].to_numpy()
    n = pen.groupby("sample").size().reindex(r.random_effects["sample"].index).to_numpy()
    tau2 = r.variance_components["sample"].iloc[0, 0]
    np.testing.assert_allclose(cv, 1.0 / (n / r.scale + 1.0 / tau2), rtol=1e-8)


def test_conditional_variances_match_lme4_sleepstudy(lmm):
    # lme4 1.1-31: attr(ranef(fm1, condVar = TRUE)$Subject, "postVar")[, , 1] has diagonal
    # 145.705588, 5.3122829 (subject 308); cbpp herds 1, 2, 3: 0.1212599, 0.1335870, 0.0883799
    # (lme4's optimum is ~1e-3 relative away from the exact one interlace reaches)
    cv = conditional_variances(lmm)["Subject"]
    assert list(cv.columns) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(cv.iloc[0].to_numpy(), [145.705588, 5.3122829], rtol=1e-4)


def test_conditional_variances_match_lme4_cbpp(glmm):
    cv = conditional_variances(glmm)["herd"].iloc[:, 0]
    np.testing.assert_allclose(cv[["1", "2", "3"]].to_numpy(), [0.1212599, 0.1335870, 0.0883799],
                               rtol=2e-3)


def test_conditional_variances_glmm_against_direct_laplace(glmm):
    """One herd's Var(b | y) is 1 / (1/tau^2 + sum_i w_i) with w the binomial weights at the mode."""
    cv = conditional_variances(glmm)["herd"]
    df = interlace.load_dataset("cbpp")
    tau2 = glmm.variance_components["herd"].iloc[0, 0]
    mu = glmm.fittedvalues.to_numpy()
    w = df["size"].to_numpy() * mu * (1 - mu)
    herd = df["herd"].astype(str).to_numpy()
    for level in list(cv.index)[:5]:
        expect = 1.0 / (1.0 / tau2 + w[herd == str(level)].sum())
        np.testing.assert_allclose(cv.loc[level].iloc[0], expect, rtol=1e-6)


def test_caterpillar(lmm, glmm):
    fig = lmm.plot_caterpillar()
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 2  # (Intercept) and Days
    assert axes[0].get_xlabel() == "(Intercept) (conditional mode)"
    assert axes[1].get_xlabel() == "Days (conditional mode)"
    assert axes[0].get_ylabel() == "Subject (level)"
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(str(v) for v in lmm.random_effects["Subject"].index)
    # sorted by the intercept's mode, with error bars of +-1.96 conditional sd
    modes = lmm.random_effects["Subject"]["(Intercept)"]
    assert labels[0] == str(modes.idxmin()) and labels[-1] == str(modes.idxmax())
    assert axes[0].containers, "no error bars drawn"
    g = glmm.plot_caterpillar("herd", level=0.9)
    assert g.get_axes()[0].get_title() == "herd: (Intercept)"
    assert "90%" in g._suptitle.get_text()
    with pytest.raises(interlace.InterlaceError, match="no random term"):
        glmm.plot_caterpillar("nosuch")


def test_fitted_and_residuals(lmm, glmm):
    fig = lmm.plot_fitted()
    (ax,) = fig.get_axes()
    assert ax.get_xlabel() == "fitted value (response scale)" and ax.get_ylabel() == "observed"
    assert len(ax.collections[0].get_offsets()) == lmm.nobs
    fig = glmm.plot_residuals(type="deviance")
    a0, a1 = fig.get_axes()
    assert a0.get_ylabel() == "deviance residual" and a0.get_title() == "Residuals vs fitted"
    assert a1.get_xlabel() == "theoretical normal quantile" and a1.get_title() == "Normal Q-Q"
    assert len(a1.collections[0].get_offsets()) == glmm.nobs


def test_into_given_axes_and_other_results(lmm):
    fig, axes = plt.subplots(1, 2)
    out = lmm.plot_caterpillar(ax=axes)
    assert out is fig
    wine = interlace.load_dataset("wine")
    ordinal = interlace.clmm("rating ~ temp + contact + (1 | judge)", wine)
    fig = ordinal.plot_caterpillar()
    assert fig.get_axes()[0].get_ylabel() == "judge (level)"
    assert np.all(conditional_variances(ordinal)["judge"].to_numpy() > 0)


def test_public_accessors_plotting_reads(lmm, glmm):
    """Plotting reads results through public, read-only accessors: the model context, theta on
    the absolute scale (theta for a GLMM, theta * sigma for an LMM) and the spherical random
    effects u on the N(0, I) scale, so that b = Lambda(theta_absolute) u for both kinds (an
    LMM's are lme4's u over sigma); the arrays are copies."""
    sigma = lmm.family_params["sigma"]
    np.testing.assert_array_equal(glmm.theta_absolute, np.asarray(glmm.theta, float))
    np.testing.assert_allclose(lmm.theta_absolute, np.asarray(lmm.theta, float) * sigma,
                               rtol=1e-15)
    for r in (glmm, lmm):
        assert r.context.design is r.design
        r.spherical_modes[:] = np.nan
        r.theta_absolute[:] = np.nan
        assert np.isfinite(r.spherical_modes).all() and np.isfinite(r.theta_absolute).all()
        blocks = r.context.u_blocks(r.spherical_modes)
        for ti, (t, sl, b) in enumerate(zip(r.design.terms, r.context.theta_slices(),
                                            r.random_effects.values())):
            lam = t.Lambda(r.theta_absolute[sl])
            np.testing.assert_allclose(blocks[ti] @ lam.T, b.to_numpy(), atol=1e-8)
        assert r.summary_text().startswith(("Linear mixed model", "Generalized linear mixed"))
