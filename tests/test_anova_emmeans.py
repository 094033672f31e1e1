"""One-model hypothesis tests and marginal means against R (tests/reference/anova_emmeans.json,
written by tests/reference/anova_emmeans.R).

* ``interlace.anova(m, type, ddf)`` against lmerTest's ``anova(lmer(y ~ A * B + x + (1 | g)),
  type = 1, 2, 3, ddf = "Satterthwaite" / "Kenward-Roger")`` on an unbalanced simulated design
  (tests/reference/data/anova_unbal.csv), where the two methods differ by a few 1e-3;
  ``coefficient_table(ddf)`` against ``coef(summary(m, ddf = ...))``.
* ``interlace.emmeans`` against emmeans 1.x: ``emmeans(m, ~ A)``, ``~ A | B`` (its default
  lmer.df = "kenward-roger", and lmer.df = "satterthwaite") and ``pairs(..., adjust =)``;
  on cbpp against ``emmeans(glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd),
  binomial), ~ period, df = Inf)`` (the exact Laplace optimum; lme4's default glmer stops short
  of it, see test_parity_lme4.py), link and response scale, pairs under each adjustment.
* one GLMM: against ``drop1(glmer(count ~ mined + spp + (1 | site), poisson), test = "Chisq")``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures import REF_DIR, load_reference

import interlace
from interlace.errors import DataError, InterlaceError

R = load_reference("anova_emmeans.json")
ADJ = ("tukey", "holm", "bonferroni", "none")


def rel(a, b) -> float:
    a = np.atleast_1d(np.asarray(a, float))
    b = np.array([np.inf if v is None else v for v in np.atleast_1d(np.asarray(b, object))],
                 float)
    both_inf = np.isinf(a) & np.isinf(b)
    with np.errstate(invalid="ignore"):
        return float(np.max(np.where(both_inf, 0.0, np.abs(a - b) / np.abs(b))))


@pytest.fixture(scope="module")
def lmm():
    d = pd.read_csv(REF_DIR / "data" / "anova_unbal.csv", dtype={"A": str, "B": str, "g": str})
    return interlace.fit("y ~ A * B + x + (1 | g)", d)


@pytest.fixture(scope="module")
def cbpp():
    return interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                           interlace.load_dataset("cbpp"), family="binomial")


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
@pytest.mark.parametrize("kind", [1, 2, 3])
def test_anova_matches_lmertest(lmm, kind, ddf):
    """lmerTest anova(m, type, ddf): F, NumDF, DenDF, p and Sum/Mean Sq to 1e-4 relative."""
    ref = R["lmm"]["anova"][ddf][f"type{kind}"]
    tab = interlace.anova(lmm, type=kind, ddf=ddf)
    assert list(tab.index) == ref["terms"]
    assert list(tab["NumDF"]) == ref["NumDF"]
    for ours, theirs in [("F value", "F"), ("DenDF", "DenDF"), ("Pr(>F)", "p"),
                         ("Sum Sq", "SumSq"), ("Mean Sq", "MeanSq")]:
        assert rel(tab[ours], ref[theirs]) < 1e-4, ours


def test_kenward_roger_differs_from_satterthwaite_here(lmm):
    """The design is unbalanced enough that the reference tells the two methods apart."""
    s = R["lmm"]["anova"]["satterthwaite"]["type3"]["F"]
    k = R["lmm"]["anova"]["kenward-roger"]["type3"]["F"]
    assert rel(k, s) > 1e-3


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_coefficient_df_matches_lmertest(lmm, ddf):
    """summary(m, ddf = ...): df and SEs (KR: from pbkrtest's adjusted covariance)."""
    ref = R["lmm"]["coef"][ddf]
    tab = lmm.coefficient_table(ddf)
    assert rel(tab["df"], ref["df"]) < 1e-4
    assert rel(tab["Std. Error"], ref["se"]) < 1e-6
    assert rel(tab["Pr(>|t|)"], ref["p"]) < 1e-4
    assert rel(lmm.fixed_effect_df(ddf), ref["df"]) < 1e-4


def check_table(frame: pd.DataFrame, ref: dict, est: str) -> None:
    assert rel(frame[est], ref["estimate"]) < 1e-4
    assert rel(frame["SE"], ref["SE"]) < 1e-4
    assert rel(frame["df"], ref["df"]) < 1e-4
    if "lower" in ref:
        assert rel(frame["lower.CL"], ref["lower"]) < 1e-4
        assert rel(frame["upper.CL"], ref["upper"]) < 1e-4
    if "p" in ref:
        # absolute 1e-4 (R's ptukey is accurate to about 1e-8 absolute, not relative, in the
        # far tail) and relative 1e-4 for p-values above 1e-3
        p, rp = frame["p.value"].to_numpy(), np.asarray(ref["p"], float)
        assert np.max(np.abs(p - rp)) < 1e-4
        big = rp > 1e-3
        assert rel(p[big], rp[big]) < 1e-4
        stat = "t.ratio" if "t.ratio" in frame else "z.ratio"
        assert rel(frame[stat], ref["stat"]) < 1e-4


def test_emmeans_lmm_kenward_roger(lmm):
    """emmeans(m, ~ A) and emmeans(m, ~ A | B): KR df and adjusted SEs (emmeans' default)."""
    e = interlace.emmeans(lmm, "A")
    assert list(e.frame["A"]) == R["lmm"]["emmeans"]["A"]["A"]
    check_table(e.frame, R["lmm"]["emmeans"]["A"], "emmean")
    eb = interlace.emmeans(lmm, "A", by="B")
    ref = R["lmm"]["emmeans"]["A_by_B"]
    assert list(eb.frame["A"]) == ref["A"] and list(eb.frame["B"]) == ref["B"]
    check_table(eb.frame, ref, "emmean")
    check_table(interlace.emmeans(lmm, "A", ddf="satterthwaite").frame,
                R["lmm"]["emmeans"]["A_satterthwaite"], "emmean")


@pytest.mark.parametrize("adjust", ADJ)
def test_emmeans_lmm_pairs(lmm, adjust):
    """pairs(emmeans(m, ~ A), adjust) and pairs(emmeans(m, ~ A | B), adjust)."""
    pa = interlace.emmeans(lmm, "A").pairs(adjust)
    ref = R["lmm"]["emmeans"]["pairs_A"][adjust]
    assert list(pa.frame["contrast"]) == ref["contrast"]
    check_table(pa.frame, ref, "estimate")
    pb = interlace.emmeans(lmm, "A", by="B").pairs(adjust)
    ref = R["lmm"]["emmeans"]["pairs_A_by_B"][adjust]
    assert list(pb.frame["contrast"]) == ref["contrast"] and list(pb.frame["B"]) == ref["B"]
    check_table(pb.frame, ref, "estimate")


def test_emmeans_glmm_response_scale(cbpp):
    """cbpp: probabilities with delta-method SEs, back-transformed limits (type = "response")."""
    check_table(interlace.emmeans(cbpp, "period").frame, R["cbpp_tmb"]["link"], "emmean")
    check_table(interlace.emmeans(cbpp, "period", type="response").frame,
                R["cbpp_tmb"]["response"], "response")


@pytest.mark.parametrize("adjust", ADJ)
def test_emmeans_glmm_pairs(cbpp, adjust):
    """pairs(emmeans(glmmTMB fit, ~ period, df = Inf), adjust): z ratios, adjusted p."""
    pa = interlace.emmeans(cbpp, "period").pairs(adjust)
    ref = R["cbpp_tmb"]["pairs"][adjust]
    assert list(pa.frame["contrast"]) == ref["contrast"]
    check_table(pa.frame, ref, "estimate")


def test_emmeans_glmm_lme4_default_within_its_tolerance(cbpp):
    """Against emmeans on lme4's default glmer at test_parity_lme4's tolerances (estimates
    1e-3, SEs 2e-2): lme4's own fit is inexact, not ours."""
    f = interlace.emmeans(cbpp, "period").frame
    assert rel(f["emmean"], R["cbpp"]["link"]["estimate"]) < 1e-3
    assert rel(f["SE"], R["cbpp"]["link"]["SE"]) < 2e-2


def test_drop1_glmm():
    """anova(one GLMM) = drop1(m, test = "Chisq"): AIC of each reduced fit, LRT, p."""
    sal = interlace.load_dataset("Salamanders")
    g = interlace.glmer("count ~ mined + spp + (1 | site)", sal, family="poisson")
    tab = interlace.anova(g)
    ref = R["drop1"]
    assert list(tab.index) == ref["terms"]
    assert rel(tab["AIC"], ref["AIC"]) < 1e-4
    assert rel(tab["LRT"].iloc[1:], ref["LRT"][1:]) < 1e-4
    assert rel(tab["Pr(Chi)"].iloc[1:], ref["p"][1:]) < 1e-3
    assert list(tab["npar"].iloc[1:]) == ref["npar"][1:]


def test_bad_arguments_name_what_was_expected(lmm, cbpp):
    with pytest.raises(InterlaceError, match="type must be"):
        interlace.anova(lmm, type=4)
    with pytest.raises(InterlaceError, match="ddf must be"):
        interlace.anova(lmm, ddf="between-within")
    with pytest.raises(DataError, match="'C' is not a factor"):
        interlace.emmeans(lmm, "C")
    with pytest.raises(DataError, match="not levels"):
        interlace.emmeans(lmm, "A", at={"A": ["a9"]})
    with pytest.raises(InterlaceError, match="adjust must be"):
        interlace.emmeans(lmm, "A").pairs("scheffe")
    with pytest.raises(InterlaceError, match="type must be 'link' or 'response'"):
        interlace.emmeans(cbpp, "period", type="odds")
    with pytest.raises(InterlaceError, match="ddf applies to linear mixed models"):
        interlace.emmeans(cbpp, "period", ddf="kenward-roger")


def test_two_model_anova_unchanged(lmm):
    """Several models still give the likelihood-ratio comparison."""
    m0 = interlace.fit("y ~ A + B + x + (1 | g)", pd.read_csv(
        REF_DIR / "data" / "anova_unbal.csv", dtype={"A": str, "B": str, "g": str}))
    with pytest.warns(interlace.InterlaceWarning, match="refitting"):
        tab = interlace.anova(m0, lmm)
    assert "Pr(>Chisq)" in tab and len(tab) == 2


def test_repr_is_a_table(lmm):
    e = interlace.emmeans(lmm, "A")
    assert "emmean" in repr(e) and "a2" in repr(e)
    assert "P value adjustment: holm" in repr(e.pairs("holm"))


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_correlated_slope(ddf):
    """lmer(Reaction ~ Days + (Days | Subject), sleepstudy): anova and summary(m, ddf) df,
    a random term with a covariance (Kenward-Roger's Z_a Z_b' + Z_b Z_a' component)."""
    ref = R["sleep"]
    m = interlace.fit(ref["formula"], interlace.load_dataset("sleepstudy"))
    tab = interlace.anova(m, ddf=ddf)
    assert rel(tab["F value"], ref["anova"][ddf]["F"]) < 1e-4
    assert rel(tab["DenDF"], ref["anova"][ddf]["DenDF"]) < 1e-4
    coef = m.coefficient_table(ddf)
    assert rel(coef["df"], ref["coef"][ddf]["df"]) < 1e-4
    assert rel(coef["Std. Error"], ref["coef"][ddf]["se"]) < 1e-4


def test_drop1_clmm():
    """anova(one CLMM) = drop1(clmm(rating ~ temp + contact + (1 | judge)), test = "Chisq")."""
    ref = R["drop1_clmm"]
    c = interlace.clmm(ref["formula"], interlace.load_dataset("wine"))
    tab = interlace.anova(c)
    assert list(tab.index) == ref["terms"]
    assert rel(tab["AIC"], ref["AIC"]) < 1e-4
    assert rel(tab["LRT"].iloc[1:], ref["LRT"][1:]) < 1e-4
    assert rel(tab["Pr(Chi)"].iloc[1:], ref["p"][1:]) < 1e-3
