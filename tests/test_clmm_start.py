"""clmm's start (interlace/ordinal/start.py) and its one-scalar-term Laplace path
(interlace/ordinal/pirls_diagonal.py, ordinal.laplace.scalar_gradient): laws, not examples.

The reference for the fits themselves is R's ordinal::clmm (tests/test_clmm.py); here each
shortcut is checked against the general code it replaces, or against finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from interlace.glmm.fitting import glmm_objective
from interlace.glmm.gradient_fused import fused_laplace_gradient
from interlace.glmm.pirls import pirls
from interlace.glmm.rowkernel import kernel_for
from interlace.ordinal.fitting import build_clmm
from interlace.ordinal.laplace import OrdinalLaplace, scalar_gradient, threshold_gradient
from interlace.ordinal.pirls_diagonal import diagonal_pirls
from interlace.ordinal.start import clmm_start, profiled_hessian, start_hessian

WINE_F = "rating ~ temp + contact + (1 | judge)"


def wine_model(threshold: str = "flexible", link: str = "logit"):
    return build_clmm(WINE_F, interlace.load_dataset("wine"), link=link, threshold=threshold)


def point(ctx, x):
    dev = glmm_objective(ctx, OrdinalLaplace(), start=x)
    theta, beta, fp = dev.unpack(np.asarray(x, float))
    return dev, theta, beta, fp


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_diagonal_pirls_is_the_core_pirls(link):
    """One scalar term: the elementwise penalised IRLS finds the core's modes and Laplace
    deviance (from zero and from a warm start)."""
    ctx = wine_model(link=link)
    x = clmm_start(ctx)
    _, theta, beta, fp = point(ctx, x)
    u0 = np.zeros(ctx.system.q)
    a = diagonal_pirls(ctx, kernel_for(ctx), theta, beta, fp, u0)
    b = pirls(ctx, theta, beta, fp, u0)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.u, b.u, rtol=1e-9, atol=1e-10)
    assert a.laplace_deviance == pytest.approx(b.laplace_deviance, rel=1e-12)
    warm = diagonal_pirls(ctx, kernel_for(ctx), theta * 1.01, beta, fp, a.u)
    cold = pirls(ctx, theta * 1.01, beta, fp, u0)
    assert warm.laplace_deviance == pytest.approx(cold.laplace_deviance, rel=1e-12)


@pytest.mark.parametrize("threshold", ["flexible", "symmetric"])
def test_scalar_gradient_is_the_general_gradient(threshold):
    """The one-pass gradient equals the fused kernels' gradient followed by the thresholds'
    (the two functions it fuses), and a central difference of the deviance."""
    ctx = wine_model(threshold)
    x = clmm_start(ctx) + 0.05
    dev, theta, beta, fp = point(ctx, x)
    dev(x)
    res, kern = dev.last_out.modes, kernel_for(ctx)
    names = dev.layout.fam_names
    g = scalar_gradient(ctx, kern, fp, res, names, True)
    ref = np.concatenate([fused_laplace_gradient(ctx, kern, theta, fp, res),
                          threshold_gradient(ctx, kern, theta, fp, res, names)])
    np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-10)
    e = 1e-5 * np.eye(x.size)
    num = np.array([(dev(x + h) - dev(x - h)) / 2e-5 for h in e])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)


def test_profiled_hessian_is_the_penalised_deviance_curvature():
    """profiled_hessian is the Hessian in (beta, thresholds) of the penalised deviance
    -2 log p(y | u) + |u|^2 with u at its mode (u profiled out): central differences of it."""
    ctx = wine_model()
    x = clmm_start(ctx)
    dev, theta, beta, fp = point(ctx, x)
    dev(x)
    H = profiled_hessian(ctx, dev.last_out.modes, beta, fp, dev.layout.fam_names)
    nt = dev.layout.ntheta

    def pen(v):
        th, b, f = dev.unpack(np.r_[x[:nt], v])
        return diagonal_pirls(ctx, kernel_for(ctx), th, b, f, np.zeros(ctx.system.q)
                              ).penalized_deviance

    v0, h = x[nt:], 1e-4
    m = v0.size
    num = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            ei, ej = h * np.eye(m)[i], h * np.eye(m)[j]
            num[i, j] = (pen(v0 + ei + ej) - pen(v0 + ei - ej) - pen(v0 - ei + ej)
                         + pen(v0 - ei - ej)) / (4 * h * h)
    np.testing.assert_allclose(H, num, rtol=1e-4, atol=1e-3)


def test_start_hessian_is_positive_definite_and_exact_in_theta():
    """The start's Hessian is symmetric positive definite, its theta column a difference of
    the exact gradient, and the objective is left at the start."""
    ctx = wine_model()
    x = clmm_start(ctx)
    dev, *_ = point(ctx, x)
    H = start_hessian(dev, x)
    np.testing.assert_allclose(H, H.T)
    assert np.all(np.linalg.eigvalsh(H) > 0)
    assert np.array_equal(dev.last_x, x)
    g0 = dev.gradient(x)
    h = 1e-5
    col = (dev.gradient(x + h * np.eye(x.size)[0]) - g0) / h
    np.testing.assert_allclose(H[:, 0], col, rtol=1e-3, atol=1e-2)


def test_start_is_the_scaled_clm_fit():
    """The start's coefficients are the clm fit's (Newton's method stopped at a decrement of
    1e-4) times one attenuation factor c > 1 (the
    logistic's: sqrt(1 + 0.346 sigma^2) with sigma the start's SD); no start where it does not
    apply (a cauchit link, whose density is not log-concave)."""
    ctx = wine_model()
    d, fam = ctx.design, ctx.family
    x = clmm_start(ctx)
    _, beta = fam.fit_fixed(d.y, d.weights, d.X, d.offset)
    c = np.sqrt(1.0 + 0.346 * x[0] ** 2)
    np.testing.assert_allclose(x[1:3], c * beta, rtol=1e-3)  # (the start's clm: to 1e-4)
    assert clmm_start(wine_model(link="cauchit")) is None
