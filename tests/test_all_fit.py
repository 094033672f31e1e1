"""lme4's allFit: the model refitted with every registered optimizer plugin. Laws: one row per
registered optimizer (interlace.list_plugins()["optimizer"]); on a well-posed model (lmer
sleepstudy, glmer cbpp) every optimizer reaches the same log-likelihood, which is the fit's
(lme4's own logLik for these fits is in lme4_core.json / model_checks.json)."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures import load_reference

import interlace
from interlace.errors import InterlaceError

REF = load_reference("model_checks.json")


def test_one_row_per_optimizer_and_agreement_lmm():
    sleep = interlace.fit(REF["sleep"]["formula"], interlace.load_dataset("sleepstudy"))
    a = sleep.all_fit(workers=0)
    assert list(a.table.index) == interlace.list_plugins()["optimizer"]
    assert a.agree(1e-6) and not a.errors
    assert np.allclose(a.table["loglik"], REF["sleep"]["loglik"], atol=1e-6)
    est = a.estimates()
    assert np.allclose(est.to_numpy(), est.iloc[[0]].to_numpy(), rtol=1e-4)
    assert list(est.columns) == list(sleep.natural_params.index)


def test_parallel_refits_glmm_agree():
    cbpp = interlace.glmer(REF["cbpp"]["formula"], interlace.load_dataset("cbpp"),
                           family="binomial")
    a = cbpp.all_fit(workers=2)
    assert list(a.table.index) == interlace.list_plugins()["optimizer"]
    assert a.agree(1e-4), a.table
    assert abs(a.table["loglik"].max() - cbpp.llf) < 1e-4
    assert (a.table["dloglik"] <= 0).all() and a.table["converged"].all()


def test_unknown_optimizer_is_named():
    sleep = interlace.fit(REF["sleep"]["formula"], interlace.load_dataset("sleepstudy"))
    with pytest.raises(InterlaceError, match="nope"):
        sleep.all_fit(optimizers=["nope"], workers=0)
