"""Smoke test until the parity suite lands: cbpp fits and matches lme4 to 1e-3."""

import interlace


def test_cbpp_fits():
    df = interlace.load_dataset("cbpp")
    r = interlace.glmer("incidence / size ~ period", df, family="binomial", groups="herd")
    assert abs(r.llf - (-92.0265663895303)) < 1e-3  # lme4 1.1-31 logLik, cbpp_factor
