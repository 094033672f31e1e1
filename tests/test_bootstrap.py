"""The parametric bootstrap (lme4's bootMer) and the parametric-bootstrap likelihood-ratio test
(pbkrtest's PBmodcomp), against R within Monte Carlo error (tests/reference/bootstrap.R ->
bootstrap.json), and the laws they keep (the draws do not depend on the number of workers,
nor on where they ran).

References: ``bootMer(gm, FUN, nsim = 500)`` of
``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)`` and of
``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)`` (REML), FUN every parameter on its
natural scale; ``confint()`` of those bootMer objects (type "perc", what
``confint(fit, method = "boot")`` reports); ``PBmodcomp(large, small, nsim)`` of sleepstudy
(Days || Subject) within (Days | Subject) (ML, nsim 1000) and of cbpp without and with period
(nsim 500).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures import load_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import interlace
from interlace.errors import InterlaceError
from interlace.inference.bootstrap import Bootstrap

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
SLEEP = "Reaction ~ Days + (Days | Subject)"
NSIM = 500


@pytest.fixture(scope="module")
def ref():
    return load_reference("bootstrap.json")


@pytest.fixture(scope="module")
def cbpp():
    return interlace.glmer(CBPP, interlace.load_dataset("cbpp"))


@pytest.fixture(scope="module")
def sleep():
    return interlace.fit(SLEEP, interlace.load_dataset("sleepstudy"))


@pytest.fixture(scope="module")
def boots(cbpp, sleep):
    return {"cbpp": cbpp.bootstrap(nsim=NSIM, seed=1, workers=2),
            "sleep": sleep.bootstrap(nsim=NSIM, seed=2, workers=2)}


def sd_se(draws: np.ndarray) -> np.ndarray:
    """Monte Carlo SE of a sample SD: sqrt((m4 - s^4) / (4 s^2 n)), the delta method with the
    draws' own fourth moment (the herd SD's distribution is far from normal)."""
    n = draws.shape[0]
    c = draws - draws.mean(axis=0)
    s2 = c.var(axis=0, ddof=1)
    m4 = (c**4).mean(axis=0)
    return np.sqrt(np.maximum(m4 - s2**2, 0) / (4 * s2 * n))


@pytest.mark.parametrize("key", ["cbpp", "sleep"])
def test_bootstrap_distribution_matches_bootmer(boots, ref, key):
    """500 draws here and 500 in R, independent: the means differ by at most 4 Monte Carlo SEs
    of the difference (sqrt(sd_R^2 + sd^2) / sqrt(500)), the SDs by at most 4 SEs of the
    difference (each SD's SE from :func:`sd_se`); 4 SEs keep the family-wise error below 1% over
    the 11 statistics."""
    r = ref[f"boot_{key}"]
    b = boots[key]
    assert b.failures == 0 and len(b.draws) == NSIM
    np.testing.assert_allclose(b.t0, r["t0"], rtol=2e-3, atol=1e-3)  # the fits themselves
    t = b.draws.to_numpy()
    mean, sd = t.mean(axis=0), t.std(axis=0, ddof=1)
    se_mean = np.sqrt((np.asarray(r["sd"]) ** 2 + sd**2) / NSIM)
    np.testing.assert_array_less(np.abs(mean - r["mean"]), 4 * se_mean)
    se_sd = np.sqrt(2) * sd_se(t)  # R's SD has (about) the same SE as ours
    np.testing.assert_array_less(np.abs(sd - r["sd"]), 4 * se_sd)


@pytest.mark.parametrize("key", ["cbpp", "sleep"])
def test_boot_conf_int_matches_lme4_within_monte_carlo_error(boots, ref, key, cbpp, sleep):
    """Percentile interval ends against lme4's ``confint(method = "boot")`` (type "perc") on
    independent draws: within 4 SEs of the difference of two quantile estimates,
    sqrt(2 p (1 - p) / n) / f(q) with the density f at the quantile from a Gaussian kernel
    estimate on our draws."""
    r = ref[f"boot_{key}"]
    fit = cbpp if key == "cbpp" else sleep
    ci = boots[key].conf_int(level=r["level"])
    t = boots[key].draws.to_numpy()
    p = (1 - r["level"]) / 2
    for j, name in enumerate(ci.index):
        dens = stats.gaussian_kde(t[:, j])
        for end, prob, col in ((r["lower"][j], p, "lower"), (r["upper"][j], 1 - p, "upper")):
            q = ci.loc[name, col]
            se = np.sqrt(2 * prob * (1 - prob) / NSIM) / dens(q)[0]
            assert abs(q - end) < 4 * se, (name, col, q, end, se)
    # the same interval through the result's conf_int (lme4's confint(method = "boot"))
    via = fit.conf_int(method="boot", nsim=NSIM, seed=1 if key == "cbpp" else 2, workers=2)
    pd.testing.assert_frame_equal(via, ci.astype(float), check_names=False)
    assert list(via.index) == list(fit.natural_params.index)


def same_reference_distribution(draws: np.ndarray, r: dict) -> None:
    """The LRT* draws' mean and SD against pbkrtest's (``ref``), each within 4 SEs of the
    difference of independent estimates (the SD's SE from :func:`sd_se`)."""
    n = draws.size
    sd = draws.std(ddof=1)
    assert abs(draws.mean() - r["ref_mean"]) < 4 * np.sqrt(sd**2 / n + r["ref_sd"] ** 2 / r["nsim"])
    se = sd_se(draws[:, None])[0]
    assert abs(sd - r["ref_sd"]) < 4 * np.sqrt(se**2 + se**2 * n / r["nsim"])


def test_pbmodcomp_sleepstudy_correlation(ref):
    """The LRT exactly (both fits are exact LMM optima: 1e-6 absolute), the bootstrap p-value
    within 4 SEs of the difference, sqrt(p (1 - p) (1 / 1000 + 1 / 300))."""
    r = ref["pb_sleep"]
    data = interlace.load_dataset("sleepstudy")
    m0 = interlace.fit("Reaction ~ Days + (Days || Subject)", data, method="ML")
    m1 = interlace.fit(SLEEP, data, method="ML")
    table = interlace.anova(m0, m1, method="bootstrap", nsim=300, seed=5, workers=2)
    test = table.attrs["pbtest"]
    assert test.lrt == pytest.approx(r["lrt"], abs=1e-6) and test.df == r["df"]
    assert test.p_chisq == pytest.approx(r["p_chisq"], abs=1e-6)
    p = r["p_pb"]
    assert abs(test.p_value - p) < 4 * np.sqrt(p * (1 - p) * (1 / r["nsim"] + 1 / 300))
    assert table["Pr(boot)"].iloc[1] == test.p_value and np.isnan(table["Pr(boot)"].iloc[0])
    assert table["Chisq"].iloc[1] == pytest.approx(test.lrt, abs=1e-9)
    assert test.failures == 0 and test.reference.size == 300
    same_reference_distribution(test.reference, r)
    tab = test.table()
    assert list(tab.index) == ["LRT", "PBtest"] and tab.loc["PBtest", "p.value"] == test.p_value


def test_pbmodcomp_cbpp_period(ref, cbpp):
    """The LRT to lme4's optimum accuracy (its GLMM fits stop ~1e-4 short: 2e-3 absolute), the
    p-value within 4 SEs of the difference (p small: SE floored at that of p = 0.01)."""
    r = ref["pb_cbpp"]
    m0 = interlace.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)",
                         interlace.load_dataset("cbpp"))
    test = interlace.inference.pbtest.pb_test(cbpp, m0, nsim=200, seed=6, workers=2)
    assert test.lrt == pytest.approx(r["lrt"], abs=2e-3) and test.df == r["df"] == 3
    p = max(r["p_pb"], 0.01)
    assert abs(test.p_value - r["p_pb"]) < 4 * np.sqrt(p * (1 - p) * (1 / r["nsim"] + 1 / 200))
    assert test.p_value < 0.05 and test.p_value_all >= 1 / 201
    same_reference_distribution(test.reference, r)


# -- laws -------------------------------------------------------------------------------------
def test_draws_do_not_depend_on_the_number_of_workers(cbpp):
    one = cbpp.bootstrap(nsim=24, seed=3, workers=1)
    two = cbpp.bootstrap(nsim=24, seed=3, workers=2)
    here = cbpp.bootstrap(nsim=24, seed=3, workers=0)
    pd.testing.assert_frame_equal(one.draws, two.draws, check_exact=True)
    pd.testing.assert_frame_equal(one.draws, here.draws, check_exact=True)
    assert one.seed == 3 and not one.draws.equals(cbpp.bootstrap(nsim=24, seed=4, workers=0).draws)


def test_worker_processes_from_a_fork_server_give_the_same_draws(sleep, monkeypatch):
    """A process with other threads (a notebook's kernel) starts workers from a fork server:
    the job travels pickled, and the draws are the same."""
    import multiprocessing as mp

    from interlace import parallel

    if "forkserver" not in mp.get_all_start_methods():
        pytest.skip("needs the forkserver start method")
    monkeypatch.setattr(parallel, "mp_context", lambda preload=("interlace",): mp.get_context(
        "forkserver"))
    served = sleep.bootstrap(nsim=6, seed=4, workers=2)
    pd.testing.assert_frame_equal(served.draws, sleep.bootstrap(nsim=6, seed=4, workers=0).draws,
                                  check_exact=True)


def test_replicate_i_refits_simulate_draw_i(sleep):
    """bootstrap(seed=s)'s i-th replicate is the refit of simulate(seed=s)[i]."""
    boot = sleep.bootstrap(nsim=3, seed=12, workers=0)
    ys = sleep.simulate(nsim=3, seed=12)
    for i in range(3):
        np.testing.assert_allclose(boot.draws.iloc[i], sleep.refit(ys[i]).natural_params,
                                   rtol=1e-12)
    unseeded = sleep.bootstrap(nsim=2, workers=0)
    pd.testing.assert_frame_equal(sleep.bootstrap(nsim=2, seed=unseeded.seed, workers=0).draws,
                                  unseeded.draws)


@settings(max_examples=40, deadline=None)
@given(data=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=60), t0=st.floats(-1e3, 1e3))
def test_percentile_interval_at_99_contains_the_one_at_95(data, t0):
    boot = Bootstrap(pd.DataFrame({"x": data}), pd.Series({"x": t0}), len(data), 0)
    for kind in ("percentile", "basic", "normal"):
        wide, narrow = boot.conf_int(0.99, kind), boot.conf_int(0.95, kind)
        assert wide.loc["x", "lower"] <= narrow.loc["x", "lower"] + 1e-9 * (1 + abs(t0))
        assert wide.loc["x", "upper"] >= narrow.loc["x", "upper"] - 1e-9 * (1 + abs(t0))


def test_interval_kinds_follow_boot_ci():
    t = np.arange(1.0, 101.0)
    boot = Bootstrap(pd.DataFrame({"a": t}), pd.Series({"a": 40.0}), 100, 0)
    q = np.quantile(t, [0.05, 0.95])
    np.testing.assert_allclose(boot.conf_int(0.9).loc["a"], q)
    np.testing.assert_allclose(boot.conf_int(0.9, "basic").loc["a"], [80 - q[1], 80 - q[0]])
    z = stats.norm.ppf(0.95)
    centre = 2 * 40.0 - t.mean()  # t0 - bias
    np.testing.assert_allclose(boot.conf_int(0.9, "normal").loc["a"],
                               [centre - z * t.std(ddof=1), centre + z * t.std(ddof=1)])
    assert boot.summary().loc["a", "bias"] == pytest.approx(t.mean() - 40.0)
    with pytest.raises(InterlaceError, match="kind"):
        boot.conf_int(kind="bca")
    with pytest.raises(InterlaceError, match="level"):
        boot.conf_int(level=95)


def test_failures_are_counted_with_their_messages(cbpp):
    top = cbpp.fe_params.iloc[0]

    def picky(fit):
        if fit.fe_params.iloc[0] > top + 1e-9:
            raise ValueError("intercept above the fitted one")
        return fit.fe_params

    boot = cbpp.bootstrap(nsim=20, seed=1, workers=0, statistic=lambda f: f.fe_params)
    picky_boot = cbpp.bootstrap(nsim=20, seed=1, workers=0, statistic=picky)
    assert 0 < picky_boot.failures < 20
    assert picky_boot.failures + len(picky_boot.draws) == 20
    assert all(m == "ValueError: intercept above the fitted one"
               for m in picky_boot.errors.values())
    kept = picky_boot.draws.index
    pd.testing.assert_frame_equal(picky_boot.draws, boot.draws.loc[kept])
    assert list(boot.draws.columns) == list(cbpp.fe_params.index)


def test_conditional_bootstrap_and_the_ordinal_kind():
    wine = interlace.clmm("rating ~ temp + contact + (1 | judge)", interlace.load_dataset("wine"))
    boot = wine.bootstrap(nsim=8, seed=1, workers=0, conditional=True)
    assert boot.conditional and list(boot.draws.columns) == list(wine.natural_params.index)
    assert boot.failures + len(boot.draws) == 8


def test_bad_options(cbpp, sleep):
    with pytest.raises(InterlaceError, match="workers"):
        cbpp.bootstrap(nsim=2, workers=-1)
    with pytest.raises(InterlaceError, match="nsim"):
        cbpp.bootstrap(nsim=0)
    with pytest.raises(InterlaceError, match="two models"):
        interlace.anova(sleep, sleep, sleep, method="bootstrap")
    with pytest.raises(InterlaceError, match="no option"):
        interlace.anova(sleep, sleep, nsim=10)
    with pytest.raises(InterlaceError, match="method"):
        interlace.anova(sleep, sleep, method="exact")


def test_bootstrap_on_a_dask_localcluster(cbpp):
    """A real dask.distributed LocalCluster (2 worker processes on 127.0.0.1), started and
    stopped here: the same draws as in this process, given as a client and as an address.
    The worker processes are forked from this one, which has interlace imported (spawned, each
    imports interlace and its dependencies afresh: 10 s of a 12 s test on a busy 2-core VM)."""
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        on_client = cbpp.bootstrap(nsim=12, seed=9, scheduler=client)
        on_address = cbpp.bootstrap(nsim=12, seed=9, scheduler=cluster.scheduler_address,
                                    statistic=lambda f: f.llf)  # lambdas go by cloudpickle
    here = cbpp.bootstrap(nsim=12, seed=9, workers=0)
    pd.testing.assert_frame_equal(on_client.draws, here.draws, check_exact=True)
    assert on_address.failures == 0 and list(on_address.draws.columns) == ["t1"]
