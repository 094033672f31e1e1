"""Numeric edge cases give a clear error or warning, never a silent wrong answer or a bare
numpy / AttributeError traceback (the "no silent wrong answers" issue):

* a response or predictor whose sums of squares overflow or underflow double precision (values
  of 1e300, a predictor scaled by 1e200 or 1e-200) -> DataError naming the column;
* a constant response in ``fit()`` -> DataError before fitting, no numpy warnings;
* fixed effects whose maximum-likelihood estimate is not finite (every count 0, a factor level
  whose counts are all 0, complete separation) -> an InterlaceWarning naming them, also in
  ``result.messages``; ``converged`` stays as the optimizer and Hessian checks say;
* fits whose penalised system meets an intended inf / nan raise no numpy RuntimeWarning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace import DataError, InterlaceWarning
from interlace.glmm.resolve import resolve_family
from interlace.glmm.result_core import boundary_identified
from interlace.linalg.penalized import PenalizedSystem
from interlace.model.terms import RandomTerm

SLEEP_F = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep():
    return interlace.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def sal():
    return interlace.load_dataset("Salamanders")


# -- item 1: scales that overflow double precision -------------------------------------------
def _raises_cleanly(match, fn, *args):
    """``fn(*args)`` raises DataError matching ``match``, with no warning on the way."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=match):
            fn(*args)


@pytest.mark.parametrize("factor", [1e200, 1e-200])
def test_predictor_on_an_extreme_scale_is_a_data_error(sleep, factor):
    _raises_cleanly(r"fixed-effect column 'Days' has values of magnitude up to 9e[+-]200.*rescale "
                    r"it, e.g. multiply it by", interlace.fit, SLEEP_F,
                    sleep.assign(Days=sleep.Days * factor))


def test_response_on_an_extreme_scale_is_a_data_error(sleep):
    _raises_cleanly(r"response 'Reaction' has values of magnitude up to 4.66e\+302.*multiply it "
                    r"by 1e-302", interlace.fit, SLEEP_F,
                    sleep.assign(Reaction=sleep.Reaction * 1e300))


def test_glmer_names_the_predictor_not_separation(sal):
    with pytest.raises(DataError, match=r"fixed-effect column 'cover' has values of magnitude"):
        interlace.glmer("count ~ cover + (1 | site)", sal.assign(cover=sal.cover * 1e200),
                        family="poisson")


def test_moderate_rescaling_still_fits_exactly(sleep):
    base = interlace.fit("Reaction ~ Days + (1 | Subject)", sleep, method="ML")
    big = interlace.fit("Reaction ~ Days + (1 | Subject)", sleep.assign(Days=sleep.Days * 1e6),
                        method="ML")
    np.testing.assert_allclose(big.fe_params["Days"] * 1e6, base.fe_params["Days"], rtol=1e-6)
    assert abs(big.llf - base.llf) < 1e-6


# -- item 2: a constant response -------------------------------------------------------------
def test_constant_response_is_a_data_error_without_numpy_warnings(sleep):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"response 'Reaction' is constant \(250 on every "
                                            r"row\): a linear mixed model needs variation in "
                                            r"the response"):
            interlace.fit(SLEEP_F, sleep.assign(Reaction=250.0))


# -- item 4: estimates at infinity -----------------------------------------------------------
def _glmer_warnings(formula, data, family):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = interlace.glmer(formula, data, family=family)
    return r, [str(w.message) for w in caught if issubclass(w.category, InterlaceWarning)]


def test_every_count_zero_names_the_intercept(sal):
    r, msgs = _glmer_warnings("count ~ 1 + (1 | site)", sal.assign(count=0), "poisson")
    hit = [m for m in msgs if "runs off to -infinity (every response is 0" in m]
    assert hit and hit[0].startswith("the estimate of '(Intercept)' runs off to -infinity")
    assert hit[0] in r.messages


def test_every_count_zero_with_a_factor_names_both(sal):
    r, msgs = _glmer_warnings("count ~ mined + (1 | site)", sal.assign(count=0), "poisson")
    assert any("the estimates of '(Intercept)'" in m and "'mined[T.yes]'" in m
               and "are not finite" in m for m in msgs)


@pytest.mark.parametrize("family", ["poisson", "nbinom2", "zipoisson"])
def test_a_level_with_all_counts_zero_is_named(sal, family):
    data = sal.assign(count=np.where(sal.mined.astype(str) == "yes", 0, sal["count"]))
    r, msgs = _glmer_warnings("count ~ mined + (1 | site)", data, family)
    hit = [m for m in msgs if "runs off to" in m]
    assert len(hit) == 1 and hit[0].startswith("the estimate of 'mined[T.yes]' runs off to "
                                               "-infinity (every response is 0")
    assert hit[0] in r.messages


def test_binomial_separation_keeps_its_warning_and_names_the_effect():
    rng = np.random.default_rng(1)
    n = 240
    t = np.where(np.arange(n) % 3 == 0, "b", "a")
    y = np.where(t == "b", 0.0, (rng.random(n) < 0.5).astype(float))
    df = pd.DataFrame({"t": t, "y": y, "g": np.repeat(np.arange(24), 10)})
    r, msgs = _glmer_warnings("y ~ t + (1 | g)", df, "binomial")
    assert any("separation" in m for m in msgs)  # the binomial's own message, kept
    assert any(m.startswith("the estimate of 't[T.b]' runs off to -infinity (every response is 0")
               for m in msgs)


def test_ordinary_fits_flag_nothing(sal):
    r, msgs = _glmer_warnings("count ~ mined + (1 | site)", sal, "poisson")
    assert not any("infinity" in m or "not finite" in m for m in msgs + r.messages)


def test_boundary_criterion():
    X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1.0]])
    assert not boundary_identified(X, np.zeros(6, bool)).any()
    assert boundary_identified(X, np.array([0, 0, 0, 1, 1, 1], bool)).tolist() == [False, True]
    assert boundary_identified(X, np.array([1, 1, 1, 0, 0, 0], bool)).tolist() == [True, True]
    assert boundary_identified(X, np.array([1, 0, 0, 1, 0, 0], bool)).tolist() == [False, False]
    assert boundary_identified(X, np.ones(6, bool)).all()


def test_family_boundary_rows_hook():
    pois, gauss = resolve_family("poisson"), resolve_family("gaussian")
    y, mu = np.array([0.0, 0.0, 2.0]), np.array([1e-12, 0.5, 1e-12])
    assert pois.boundary_rows(y, mu, np.ones(3), {}).tolist() == [True, False, False]
    assert gauss.boundary_rows(y, mu, np.ones(3), {}) is None
    binom = resolve_family("binomial")
    p = np.array([1e-12, 1 - 1e-12, 0.5])
    assert binom.boundary_rows(np.array([0.0, 1.0, 1.0]), p, np.ones(3), {}).tolist() == [
        True, True, False]


# -- item 3: no numpy RuntimeWarning where the penalised system handles the value -------------
@pytest.mark.parametrize("k", [1, 2])
def test_factor_of_an_indefinite_system_is_none_without_warnings(k):
    n = 40
    codes = np.arange(n) % 5
    Z = np.column_stack([np.ones(n)] + [np.linspace(-1, 1, n)] * (k - 1))
    term = RandomTerm("g", [f"c{i}" for i in range(k)], codes, pd.Index(range(5)), Z, True)
    system = PenalizedSystem([term])
    ZL = [t.ZLambda(np.ones(t.ntheta)) for t in system.terms]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert system.factor(ZL, np.full(n, -1.0)) is None  # observed-information weights < 0
        if k == 1:
            assert system.factor(ZL, np.full(n, np.nan)) is None
        assert system.factor(ZL, np.ones(n)) is not None


@pytest.mark.parametrize("factor", [1000.0, 1e-3])
def test_random_term_columns_on_very_different_scales_warn_and_reach_the_optimum(factor):
    """A slope on Days * 1000 next to its intercept: theta's entries differ by 1e3, and the ML
    fit stopped at the slope's zero bound, 4.4 short of the optimum (-880.40 against -875.97),
    saying it converged: the probes off a zero bound were 0.05 to 1, far above the slope's SD
    in its own unit. The probes now include the entry's unit, and the user is told to rescale,
    as lme4 tells about its fixed effects. The optimum is lme4's (tests/reference: ML
    sleepstudy logLik -875.9697) whatever the unit of Days."""
    sleep = interlace.load_dataset("sleepstudy")
    ref = interlace.fit("Reaction ~ Days + (Days | Subject)", sleep, method="ML")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res = interlace.fit("Reaction ~ Days + (Days | Subject)",
                            sleep.assign(Days=sleep.Days * factor), method="ML")
    scale_warned = any("very different scales" in str(w.message) for w in seen)
    assert scale_warned == (factor > 100)  # root mean squares 1 and 5.3e3, or 1 and 5.3e-3
    assert res.converged
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    assert res.fe_params["Days"] == pytest.approx(ref.fe_params["Days"] / factor, rel=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", interlace.InterlaceWarning)
        interlace.fit("Reaction ~ Days + (Days | Subject)", sleep)


def test_a_point_the_deviance_cannot_be_evaluated_at_is_not_an_optimum():
    """Poisson counts with a correlated random slope: L-BFGS-B's first line search tried a
    point where the deviance overflows; its gradient there was returned as zeros, which the
    gradient-floor stop read as convergence, and the fit ended in an error blaming complete
    separation. Now the optimizer backs off. The law: the model nests the random-intercept
    model, so a fit that says it converged is at least as likely; otherwise it says it did not
    converge."""
    sleep = interlace.load_dataset("sleepstudy")
    counts = sleep.assign(c=np.round(sleep.Reaction / 10).astype(int))
    small = interlace.glmer("c ~ Days + (1 | Subject)", counts, family="poisson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        big = interlace.glmer("c ~ Days + (Days | Subject)", counts, family="poisson")
    assert np.isfinite(big.llf)
    assert (not big.converged) or big.llf >= small.llf - 1e-6
