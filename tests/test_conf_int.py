"""conf_int's table: lme4's parameter order and names, parameter selection, level checks.

Wald bounds of the fixed effects are estimate -/+ z * SE with the SEs already checked against
lme4's vcov in tests/test_parity_lme4.py, so here they are checked against that identity."""

import numpy as np
import pytest
from scipy import stats

import interlace
from interlace.errors import InterlaceError


@pytest.fixture(scope="module")
def sleep_fit():
    return interlace.fit("Reaction ~ Days + (Days | Subject)", interlace.load_dataset("sleepstudy"))


def test_names_follow_lme4_order(sleep_fit):
    ci = sleep_fit.conf_int()
    assert list(ci.index) == ["sd__(Intercept)|Subject", "cor__(Intercept).Days|Subject",
                              "sd__Days|Subject", "sigma", "(Intercept)", "Days"]
    assert list(ci.columns) == ["lower", "upper"]
    nat = sleep_fit.natural_params
    vc = sleep_fit.variance_components["Subject"].to_numpy()
    assert nat["sd__Days|Subject"] == pytest.approx(np.sqrt(vc[1, 1]), rel=1e-12)
    assert nat["cor__(Intercept).Days|Subject"] == pytest.approx(
        vc[0, 1] / np.sqrt(vc[0, 0] * vc[1, 1]), rel=1e-12)
    assert nat["sigma"] == pytest.approx(np.sqrt(sleep_fit.scale), rel=1e-12)


def test_wald_fixed_effects_are_estimate_plus_minus_z_se(sleep_fit):
    ci = sleep_fit.conf_int(level=0.9, parm="fixed")
    z = stats.norm.ppf(0.95)
    fe, se = sleep_fit.fe_params, sleep_fit.fe_bse
    np.testing.assert_allclose(ci["lower"], fe - z * se, rtol=1e-12)
    np.testing.assert_allclose(ci["upper"], fe + z * se, rtol=1e-12)


def test_parameter_selection_and_bad_input(sleep_fit):
    assert list(sleep_fit.conf_int(parm="Days").index) == ["Days"]
    assert len(sleep_fit.conf_int(parm="random")) == 4
    with pytest.raises(InterlaceError, match="Dayz"):
        sleep_fit.conf_int(parm=["Dayz"])
    for bad in (0, 1, 1.5, "high"):
        with pytest.raises(InterlaceError, match="level"):
            sleep_fit.conf_int(level=bad)
    with pytest.raises(InterlaceError, match="method"):
        sleep_fit.conf_int(method="exact")


def test_family_parameters_and_thresholds_are_named():
    sal = interlace.load_dataset("Salamanders")
    zip_fit = interlace.glmer("count ~ mined + (1 | site)", sal, family="zipoisson",
                              ziformula="~ mined")
    assert [n for n in zip_fit.natural_params.index if n.startswith("zi~")] == [
        "zi~(Intercept)", "zi~mined[T.yes]"]
    wine = interlace.load_dataset("wine")
    c = interlace.clmm("rating ~ temp + contact + (1 | judge)", wine)
    assert list(c.natural_params.index[:5]) == ["sd__(Intercept)|judge", "1|2", "2|3", "3|4",
                                                "4|5"]
