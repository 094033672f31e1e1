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
import pytest

import interlace
from interlace import DataError

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
