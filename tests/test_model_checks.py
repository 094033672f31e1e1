"""ICC and Nakagawa's R² against R's performance package (performance 0.10.2, insight 0.19.0):
``performance::icc(m)`` and ``performance::r2_nakagawa(m)``, written by
tests/reference/model_checks.R to model_checks.json. Models: lmer sleepstudy
(Days | Subject), glmer binomial cbpp, glmer Poisson Salamanders, glmmTMB nbinom2 Salamanders
(fitted here with glmmTMB's observed-information Laplace)."""

from __future__ import annotations

import pytest
from fixtures import load_reference

import interlace
from interlace.errors import InterlaceError
from interlace.integrators.laplace import LaplaceIntegrator

REF = load_reference("model_checks.json")


def fitted(key: str):
    R = REF[key]
    data = interlace.load_dataset(R["data"])
    if R["family"] == "gaussian":
        return interlace.fit(R["formula"], data)
    options = {"integrator": LaplaceIntegrator(information="observed")} \
        if R["family"] == "nbinom2" else {}
    return interlace.glmer(R["formula"], data, family=R["family"], **options)


@pytest.mark.parametrize("key", ["sleep", "cbpp", "sal_pois", "sal_nb2"])
def test_icc_and_r2_match_performance(key):
    R = REF[key]
    m = fitted(key)
    icc, r2 = m.icc(), m.r2()
    assert set(icc) == {"adjusted", "unadjusted"} and set(r2) == {"marginal", "conditional"}
    for name, value in {**icc, **r2}.items():
        assert abs(value - R[name]) < 1e-3, (key, name, value, R[name])
    v = icc.components
    assert abs(v.residual / R["var_residual"] - 1) < 2e-3
    assert abs(v.random / R["var_random"] - 1) < 2e-3


def test_icc_law_shares_are_ordered():
    """Adding the fixed variance to the denominator can only lower the share, and the
    conditional R² exceeds the marginal one by the random share of the total."""
    m = fitted("cbpp")
    icc, r2 = m.icc(), m.r2()
    assert 0 < icc["unadjusted"] <= icc["adjusted"] < 1
    assert abs(r2["conditional"] - r2["marginal"] - icc["unadjusted"]) < 1e-12


def test_icc_unsupported_family_names_it():
    sal = interlace.load_dataset("Salamanders")
    m = interlace.glmer("count ~ mined + (1 | site)", sal, family="zipoisson")
    with pytest.raises(InterlaceError, match="zipoisson"):
        m.icc()
