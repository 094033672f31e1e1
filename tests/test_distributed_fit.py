"""One fit spread over a Dask cluster (issue 19): the answer equals the in-memory fit's.

The reference is interlace's own in-memory fit on the same rows (whose lme4 parity the other
test files check): estimates and log-likelihood within 1e-6. Every test runs on a real
``dask.distributed.LocalCluster`` with two worker processes, started and stopped here.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.errors import InterlaceError, UnsupportedModelError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

TOL = 1e-6


def cluster_kwargs(n: int = 2) -> dict:
    return {"n_workers": n, "processes": True, "threads_per_worker": 1, "host": "127.0.0.1",
            "dashboard_address": "127.0.0.1:0"}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(**cluster_kwargs()) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def assert_same(dist, mem, tol: float = TOL) -> None:
    """Estimates (beta, theta, their standard errors) and log-likelihood within ``tol``."""
    np.testing.assert_allclose(dist.fe_params.to_numpy(), mem.fe_params.to_numpy(), rtol=0,
                               atol=tol)
    np.testing.assert_allclose(dist.theta, mem.theta, rtol=0, atol=tol)
    np.testing.assert_allclose(dist.bse.to_numpy(), mem.bse.to_numpy(), rtol=0, atol=1e-5)
    assert abs(dist.llf - mem.llf) < tol
    assert list(dist.fe_params.index) == list(mem.fe_params.index)


def poisson_slope_data(n: int = 1500, groups: int = 25, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    t = rng.uniform(0.5, 2.0, n)
    b0, b1 = rng.normal(0, 0.5, groups), rng.normal(0, 0.3, groups)
    y = rng.poisson(t * np.exp(0.3 + 0.4 * x + b0[g] + b1[g] * x))
    return pd.DataFrame({"y": y.astype(float), "x": x, "logt": np.log(t),
                         "g": [f"s{v:02d}" for v in g]})


def crossed_data(n: int = 1200, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 20, n), rng.integers(0, 8, n)
    trt = rng.choice(["ctl", "high", "low"], n)
    eta = -0.2 + 0.5 * (trt == "high") + rng.normal(0, 0.6, 20)[a] + rng.normal(0, 0.4, 8)[b]
    w = rng.integers(1, 4, n).astype(float)
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)).astype(float), "trt": trt, "a": a,
                         "b": b, "w": w})


def test_cbpp_binomial_cbind(client):
    """cbpp, binomial with cbind(): glmer(cbind(incidence, size - incidence) ~ period +
    (1 | herd)) on 3 partitions equals the in-memory fit."""
    cbpp = interlace.load_dataset("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    mem = interlace.glmer(f, cbpp, family="binomial")
    dist = interlace.glmer(f, dd.from_pandas(cbpp, npartitions=3), family="binomial")
    assert_same(dist, mem)
    assert dist.pass_log.counts()["levels"] == 1  # the levels in one pass
    assert list(dist.random_effects["herd"].index) == list(mem.random_effects["herd"].index)
    assert dist.nobs == mem.nobs == 56
    assert "Laplace" in dist.summary_text()


def test_binomial_proportion_with_weights(client):
    """A proportion response with prior weights (the trials) equals the in-memory fit."""
    cbpp = interlace.load_dataset("cbpp").assign(
        prop=lambda d: d["incidence"] / d["size"])
    f = "prop ~ period + (1 | herd)"
    mem = interlace.glmer(f, cbpp, family="binomial", weights="size")
    dist = interlace.glmer(f, dd.from_pandas(cbpp, npartitions=2), family="binomial",
                           weights="size")
    assert_same(dist, mem)


def test_poisson_random_slope_with_offset(client):
    """Poisson, (1 + x | g) and an offset column: equal to the in-memory fit, the random
    effects' table included (same levels, same order)."""
    df = poisson_slope_data()
    f = "y ~ x + (1 + x | g)"
    mem = interlace.glmer(f, df, family="poisson", offset="logt")
    dist = interlace.glmer(f, dd.from_pandas(df, npartitions=4), family="poisson",
                           offset="logt")
    assert_same(dist, mem)
    np.testing.assert_allclose(dist.random_effects["g"].to_numpy(),
                               mem.random_effects["g"].to_numpy(), atol=1e-5)
    assert list(dist.random_effects["g"].index) == list(mem.random_effects["g"].index)
    ci = dist.conf_int(method="wald")
    np.testing.assert_allclose(ci.to_numpy(), mem.conf_int(method="wald").to_numpy(),
                               atol=1e-5)


def test_crossed_factors_text_factor_and_weights(client):
    """Crossed random intercepts (1 | a) + (1 | b), a text factor among the fixed effects
    and prior weights: equal to the in-memory fit."""
    df = crossed_data()
    f = "y ~ trt + (1 | a) + (1 | b)"
    mem = interlace.glmer(f, df, family="poisson", weights="w")
    dist = interlace.glmer(f, dd.from_pandas(df, npartitions=3), family="poisson", weights="w")
    assert_same(dist, mem)
    for g in ("a", "b"):
        assert list(dist.random_effects[g].index) == list(mem.random_effects[g].index)


def dist_mem(cbpp):
    return interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                           family="binomial")


def test_per_row_quantities_raise(client):
    """What needs the rows (fitted values, residuals) says so instead of guessing."""
    cbpp = interlace.load_dataset("cbpp")
    dist = interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                           dd.from_pandas(cbpp, npartitions=2), family="binomial")
    with pytest.raises(InterlaceError, match="stay on the Dask workers"):
        dist.fittedvalues  # noqa: B018
    with pytest.raises(InterlaceError, match="stay on the Dask workers"):
        dist.residuals()
    with pytest.raises(InterlaceError, match="stay on the Dask workers"):
        dist.bootstrap(nsim=2)
    with pytest.raises(InterlaceError, match="stay on the Dask workers"):
        dist.ranef(condvar=True)
    pred = dist.predict(newdata=cbpp.iloc[:5], type="response")
    np.testing.assert_allclose(np.asarray(pred, float), np.asarray(
        dist_mem(cbpp).predict(newdata=cbpp.iloc[:5], type="response"), float), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"nAGQ": 5}, "nAGQ"),
    ({"ziformula": "~1"}, "family|ziformula"),
    ({"family": "negative_binomial"}, "negative_binomial|nbinom"),
    ({"link": "probit"}, "probit"),
])
def test_unsupported_raise(client, kwargs, match):
    """What a distributed fit does not support raises UnsupportedModelError naming it."""
    cbpp = interlace.load_dataset("cbpp")
    ddf = dd.from_pandas(cbpp.assign(y=cbpp["incidence"]), npartitions=2)
    kw = {"family": "binomial" if "link" in kwargs else "poisson", **kwargs}
    with pytest.raises(UnsupportedModelError, match=match):
        interlace.glmer("y ~ period + (1 | herd)", ddf, **kw)


def test_structured_covariance_raises(client):
    df = poisson_slope_data(n=300)
    with pytest.raises(UnsupportedModelError, match="ar1"):
        interlace.glmer("y ~ x + ar1(0 + x | g)", dd.from_pandas(df, npartitions=2),
                        family="poisson")


def test_worker_killed_mid_fit(client, monkeypatch):
    """A worker process killed (SIGKILL) after the first passes: Dask recomputes its
    partitions and reruns the pass, and the fit finishes with the in-memory answer."""
    from interlace.distributed.passes import Passes

    df = poisson_slope_data(n=1200, seed=11)
    f = "y ~ x + (1 | g)"
    mem = interlace.glmer(f, df, family="poisson")
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    original = Passes.run
    calls = {"n": 0}

    def run(self, kind, fn, payload, parts=None):
        calls["n"] += 1
        if calls["n"] == 8:
            os.kill(victim, signal.SIGKILL)
        return original(self, kind, fn, payload, parts)

    monkeypatch.setattr(Passes, "run", run)
    dist = interlace.glmer(f, dd.from_pandas(df, npartitions=4), family="poisson")
    assert calls["n"] > 8
    assert victim not in client.run(os.getpid).values()  # it was really gone
    assert_same(dist, mem)


def test_dead_cluster_is_a_clear_error():
    """A cluster without workers, and a closed one: InterlaceError within the timeout, not a
    hang."""
    cbpp = interlace.load_dataset("cbpp").assign(y=lambda d: d["incidence"])
    with distributed.LocalCluster(**cluster_kwargs(1)) as cluster, \
            distributed.Client(cluster) as c:
        ddf = dd.from_pandas(cbpp, npartitions=2)
        cluster.scale(0)
        deadline = time.time() + 20
        while c.scheduler_info()["workers"] and time.time() < deadline:
            time.sleep(0.1)
        t0 = time.time()
        with pytest.raises(InterlaceError, match="did not complete"):
            interlace.glmer("y ~ period + (1 | herd)", ddf, family="poisson", client=c,
                            timeout=3)
        assert time.time() - t0 < 30
        cluster.close()
        with pytest.raises(InterlaceError, match="Dask cluster"):
            interlace.glmer("y ~ period + (1 | herd)", ddf, family="poisson", client=c,
                            timeout=3)


def test_no_client_is_a_clear_error(monkeypatch):
    import distributed as dist_mod

    def none():
        raise ValueError("No clients found")

    monkeypatch.setattr(dist_mod, "get_client", none)
    cbpp = interlace.load_dataset("cbpp")
    with pytest.raises(InterlaceError, match="running Dask client"):
        interlace.glmer("incidence ~ period + (1 | herd)", dd.from_pandas(cbpp, npartitions=2),
                        family="poisson")


def test_sleepstudy_lmm_reml_and_ml(client):
    """sleepstudy, fit(Reaction ~ Days + (Days | Subject)) by REML and ML on 3 partitions:
    one pass of cross-products, the same estimates and criterion as the in-memory fit; a
    gaussian glmer goes the same way (ML)."""
    ss = interlace.load_dataset("sleepstudy")
    ddf = dd.from_pandas(ss, npartitions=3)
    f = "Reaction ~ Days + (Days | Subject)"
    for method in ("REML", "ML"):
        mem = interlace.fit(f, ss, method=method)
        dist = interlace.fit(f, ddf, method=method)
        assert_same(dist, mem)
        assert dist.method == method
        assert abs(dist.scale - mem.scale) < 1e-6 * mem.scale
        assert dist.pass_log.counts() == {"levels": 1, "summary": 1, "crossprod": 1}
        np.testing.assert_allclose(dist.fe_df.to_numpy(), mem.fe_df.to_numpy(), rtol=1e-3)
    g = interlace.glmer("Reaction ~ Days + (1 | Subject)", ddf, family="gaussian")
    m = interlace.glmer("Reaction ~ Days + (1 | Subject)", ss, family="gaussian")
    assert_same(g, m)


def test_yaml_parquet_scheduler_cli(client, tmp_path, capsys):
    """``interlace run fit.yaml --scheduler tcp://...`` with a Parquet data source fits on the
    cluster and writes the in-memory fit's estimates."""
    import json

    from interlace.cli import main

    cbpp = interlace.load_dataset("cbpp")
    folder = tmp_path / "cbpp.parquet"
    folder.mkdir()
    cbpp.iloc[:30].to_parquet(folder / "a.parquet")
    cbpp.iloc[30:].to_parquet(folder / "b.parquet")
    cfg = tmp_path / "fit.yaml"
    cfg.write_text("name: cbpp\nformula: cbind(incidence, size - incidence) ~ period + "
                   "(1 | herd)\nfamily: binomial\ndata:\n  path: cbpp.parquet\n")
    out = tmp_path / "out.json"
    code = main(["run", str(cfg), "--scheduler", client.scheduler.address, "-o", str(out),
                 "-q"])
    assert code == 0, capsys.readouterr().err
    rec = json.loads(out.read_text())
    mem = interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                          family="binomial")
    got = rec["result"]
    assert abs(got["fit"]["llf"] - mem.llf) < TOL
    for term, est in mem.fe_params.items():
        assert abs(got["fixed_effects"][term]["estimate"] - est) < TOL


def test_crossed_without_the_exact_gradient(client, monkeypatch):
    """Crossed factors too large for M^-1's dense cross block (the limit lowered to 0 here):
    the optimizer differences the distributed deviance instead, and the answer is still the
    in-memory fit's (to the differences' precision)."""
    from interlace.distributed import system

    df = crossed_data(n=600)
    f = "y ~ 1 + (1 | a) + (1 | b)"
    mem = interlace.glmer(f, df, family="poisson")
    monkeypatch.setattr(system, "MAX_CROSS_DENSE", 0)
    dist = interlace.glmer(f, dd.from_pandas(df, npartitions=2), family="poisson")
    assert "gradient" not in dist.pass_log.counts()
    assert_same(dist, mem, tol=1e-6)
