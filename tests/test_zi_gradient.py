"""The exact Laplace gradient with random effects in ``ziformula`` (interlace.glmm.zi_gradient).

The gradient is checked against central differences of the joint Laplace deviance at points
away from the optimum (zero-inflated Poisson and NB2, the Poisson hurdle, NB1 with a family
parameter); the fits against glmmTMB 1.1.5: tests/reference/glmmtmb_zi_random.json, written by
glmmtmb_zi_random.R (``glmmTMB(count ~ spp + mined + (1 | site), Salamanders, family =
nbinom2, ziformula = ~ spp + (1 | site))``, the Owls ZINB2 with ``ziformula = ~ FoodTreatment +
(1 | Nest)`` and the Poisson hurdle ``truncated_poisson`` with ``ziformula = ~ mined + (1 |
site)``). Both maximise the same Laplace approximation, so estimates agree to the optimizers'
stopping rules (5e-4 relative, 1e-6 in the log-likelihood).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures import max_rel as rel

import interlace
from interlace.families.derivatives import numeric_zi_derivatives
from interlace.glmm.fitting import build_glmm, glmm_objective
from interlace.glmm.zi_random import zi_system

REF = json.loads((Path(__file__).parent / "reference" / "glmmtmb_zi_random.json").read_text())
FX = REF["fixtures"]


def _central(dev, x, h=1e-5):
    out = np.empty_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        out[j] = (dev(x + e) - dev(x - e)) / (2 * h)
    return out


@pytest.mark.parametrize(("family", "zi"), [
    ("poisson", "~ mined + (1 | site)"), ("nbinom2", "~ mined + (1 | site)"),
    ("truncated_poisson", "~ mined + (1 | site)"), ("nbinom1", "~ mined + (1 | site)"),
    ("poisson", "~ mined + (1 | spp)"),  # another grouping: the general blocked factor
    ("poisson", "~ mined + (1 + mined | spp)"),  # a vector term
    ("poisson", "~ mined + cs(0 + mined | spp)"),  # a covariance structure
])
def test_gradient_matches_differences(family, zi):
    """At three points (start and perturbed), the analytic gradient over [theta, beta, family
    parameters, the zero part's coefficients and theta] equals central differences."""
    d = interlace.load_dataset("Salamanders")
    ctx = build_glmm("count ~ mined + (1 | site)", d, family=family, ziformula=zi)
    dev = glmm_objective(ctx)
    x0 = dev.start()
    rng = np.random.default_rng(16)
    theta = [i for i, n in enumerate(dev.names()) if "theta[" in n]
    for k in range(3):
        x = x0 + (0.3 * rng.standard_normal(x0.size) if k else 0.0)
        x[theta] = np.abs(x[theta]) + 0.2
        dev(x)
        g = dev.gradient(x)
        fd = _central(dev, x)
        assert np.max(np.abs(g - fd) / np.maximum(np.abs(fd), 1.0)) < 1e-6, (k, g, fd)


@pytest.mark.parametrize("cls", [interlace.ZeroInflatedNB2Family, interlace.HurdleNB2Family])
def test_zi_derivatives_closed_forms_match_fallback(cls):
    """ZeroPartFamily.zi_derivatives (closed forms) against the documented differences."""
    fam = cls()
    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, 200).astype(float)
    mu = rng.uniform(0.3, 4.0, 200)
    p = rng.uniform(0.05, 0.9, 200)
    w = np.ones(200)
    params = {"zi": p, "theta": 1.7}
    a = fam.zi_derivatives(y, mu, w, params, ("theta",))
    b = numeric_zi_derivatives(fam, y, mu, w, params, "zi", ("theta",))
    for f in ("pp", "ppp", "mupp"):
        assert rel(getattr(a, f), getattr(b, f), 1.0) < 1e-5, f
    for f in ("p_psi", "pp_psi", "mup_psi"):
        assert rel(getattr(a, f)["theta"], getattr(b, f)["theta"], 1.0) < 1e-5, f


def _ref_fit(key):
    R = FX[key]
    return interlace.glmer(R["formula"], interlace.load_dataset(R["data"]), family=R["family"],
                           ziformula=R["ziformula"]), R


@pytest.mark.parametrize("key", list(FX))
def test_matches_glmmtmb(key):
    r, R = _ref_fit(key)
    assert r.converged
    assert rel(r.fe_params, R["beta"]["est"]) < 5e-4
    assert rel(r.fe_bse, R["beta"]["se"]) < 2e-3
    # the zero part's coefficients are poorly determined (SEs near 1): within 1e-3 SEs
    assert np.max(np.abs(r.zi_params - R["betazi"]["est"]) / R["betazi"]["se"]) < 1e-3
    assert rel(r.zi_bse, R["betazi"]["se"]) < 2e-3
    sd = np.sqrt(next(iter(r.variance_components.values())).iloc[0, 0])
    sdz = np.sqrt(next(iter(r.zi_variance_components.values())).iloc[0, 0])
    assert abs(np.log(sd) - R["theta"]["est"]) < 1e-3
    assert abs(np.log(sdz) - R["thetazi"]["est"]) < 1e-3
    if "betad" in R:
        assert abs(np.log(r.family_params["theta"]) - R["betad"]["est"]) < 2e-4
    assert r.llf > R["loglik"] - 1e-6 and abs(r.llf - R["loglik"]) < 1e-6


def test_evaluations_well_below_differences():
    """Salamanders' ZIP with ``ziformula = ~ mined + (1 | site)``: 413 deviances when the
    gradient was taken by differences, now under 60."""
    d = interlace.load_dataset("Salamanders")
    r = interlace.glmer("count ~ mined + (1 | site)", d, family="poisson",
                        ziformula="~ mined + (1 | site)")
    assert r.evaluations < 60


@pytest.mark.parametrize("cls", [interlace.ZeroInflatedNB2Family, interlace.HurdleNB2Family,
                                 interlace.ZeroInflatedPoissonFamily])
def test_zi_newton_terms_match_loglik_derivatives(cls):
    """ZeroPartFamily.zi_newton_terms (one pass) equals loglik_derivatives and
    param_second_derivative (weights other than 1 included)."""
    fam = cls()
    rng = np.random.default_rng(5)
    y = rng.poisson(2.0, 150).astype(float)
    mu = rng.uniform(0.3, 4.0, 150)
    w = rng.uniform(0.5, 2.0, 150)
    params = {"zi": rng.uniform(0.05, 0.9, 150)}
    if "theta" in fam.parameters:
        params["theta"] = 1.3
    D = fam.loglik_derivatives(y, mu, w, params, ("zi",))
    want = (D.d1, D.d2, D.dp["zi"], D.dp1["zi"], fam.param_second_derivative(y, mu, w, params,
                                                                              "zi"))
    for a, b in zip(fam.zi_newton_terms(y, mu, w, params), want):
        np.testing.assert_allclose(np.broadcast_to(a, y.shape), np.broadcast_to(b, y.shape),
                                   rtol=1e-12, atol=1e-12)


def test_pair_factor_matches_blocked_cholesky():
    """One scalar term per part on one grouping: the 2 x 2 blocks per level
    (interlace.glmm.zi_pair) give the blocked Cholesky's log-determinant, solves and rows."""
    d = interlace.load_dataset("Salamanders")
    ctx = build_glmm("count ~ mined + (1 | site)", d, family="poisson",
                     ziformula="~ mined + (1 | site)")
    zs = zi_system(ctx)
    assert zs.pair is not None
    rng = np.random.default_rng(7)
    n = d.shape[0]
    ZL = zs.blocks([rng.normal(size=(n, 1))], [rng.normal(size=(n, 1))],
                   (rng.normal(size=n), rng.normal(size=n)), (rng.normal(size=n),
                                                              rng.normal(size=n)))
    w = rng.uniform(0.1, 2.0, 2 * n)
    A, B = zs.pair.factor(ZL, w), zs.system.factor(ZL, w)
    assert abs(A.logdet() - B.logdet()) < 1e-10 * abs(B.logdet())
    r = rng.normal(size=(zs.system.q, 3))
    np.testing.assert_allclose(A.solve(r), B.solve(r), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(A.minv_rows(ZL), B.minv_rows(ZL), rtol=1e-10, atol=1e-12)


def test_gradient_with_the_documented_fallback():
    """A zero-part family without ``zi_derivatives`` (the hook set to None): the gradient
    takes numeric_zi_derivatives' differences and still matches central differences of the
    deviance (to their accuracy, 1e-5)."""

    class NoHook(interlace.ZeroInflatedPoissonFamily):
        zi_derivatives = None

    d = interlace.load_dataset("Salamanders")
    ctx = build_glmm("count ~ mined + (1 | site)", d, family=NoHook(),
                     ziformula="~ mined + (1 | site)")
    dev = glmm_objective(ctx)
    x = dev.start()
    x[[0, -1]] = [0.5, 0.8]
    dev(x)
    g = dev.gradient(x)
    fd = _central(dev, x)
    assert np.max(np.abs(g - fd) / np.maximum(np.abs(fd), 1.0)) < 1e-5
