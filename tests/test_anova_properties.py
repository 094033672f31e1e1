"""Laws of one-model tests and multiplicity adjustments (hypothesis): what holds for every data set.

* On a balanced orthogonal design (every group sees every A x B cell equally often) the Type
  I, II and III hypotheses coincide: same F, numerator and denominator df, whatever the ddf.
* A term with one numerator df is the t test of its coefficient: F = t^2, the same df
  (numeric covariate; two-level factor in an additive model).
* Adjusted p-values are never below the unadjusted ones, Bonferroni's never below Holm's,
  all within [0, 1]; Tukey's for two means is the unadjusted test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import interlace
from interlace.inference.emm_pairs import adjusted_pvalues, raw_pvalues

FIT_SETTINGS = settings(max_examples=6, deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.too_slow])


def balanced(seed: int, levels_a: int, reps: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = [(f"a{i}", f"b{j}", f"g{k}") for i in range(levels_a) for j in range(2)
             for k in range(5)] * reps
    d = pd.DataFrame(cells, columns=["A", "B", "g"])
    u = rng.normal(0, 1, 5)
    d["y"] = (rng.normal(0, 1, len(d)) + u[d["g"].str[1:].astype(int)]
              + 0.5 * (d["A"] == "a1") - 0.3 * (d["B"] == "b1"))
    return d


@FIT_SETTINGS
@given(seed=st.integers(0, 10_000), levels_a=st.integers(2, 4), reps=st.integers(1, 3),
       ddf=st.sampled_from(["satterthwaite", "kenward-roger"]))
def test_types_agree_on_balanced_design(seed, levels_a, reps, ddf):
    m = interlace.fit("y ~ A * B + (1 | g)", balanced(seed, levels_a, reps))
    tabs = [interlace.anova(m, type=t, ddf=ddf) for t in (1, 2, 3)]
    for other in tabs[1:]:
        assert list(other.index) == list(tabs[0].index)
        np.testing.assert_allclose(other["F value"], tabs[0]["F value"], rtol=1e-6)
        np.testing.assert_allclose(other["DenDF"], tabs[0]["DenDF"], rtol=1e-4)
        assert list(other["NumDF"]) == list(tabs[0]["NumDF"])


@FIT_SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(30, 80),
       ddf=st.sampled_from(["satterthwaite", "kenward-roger"]), kind=st.sampled_from([1, 2, 3]))
def test_one_df_f_is_t_squared(seed, n, ddf, kind):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"A": rng.choice(["a", "b", "c"], n), "B": rng.choice(["u", "v"], n),
                      "x": rng.normal(size=n), "g": rng.choice(list("pqrstuvw"), n)})
    d["y"] = 0.4 * d["x"] + rng.normal(size=n) + rng.normal(size=8)[d["g"].map(ord) - ord("p")]
    m = interlace.fit("y ~ A + B + x + (1 | g)", d)
    tab = interlace.anova(m, type=kind, ddf=ddf)
    coef = m.coefficient_table(ddf)
    last = ["x"] if kind == 1 else ["B", "x"]  # Type I: only the last term is adjusted for all
    for term, col in [("B", "B[T.v]"), ("x", "x")]:
        if term in last:
            assert tab.at[term, "NumDF"] == 1
            np.testing.assert_allclose(tab.at[term, "F value"], coef.at[col, "t value"] ** 2,
                                       rtol=1e-6)
            np.testing.assert_allclose(tab.at[term, "DenDF"], coef.at[col, "df"], rtol=1e-6)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(t=st.lists(st.floats(-8, 8, allow_nan=False), min_size=1, max_size=10),
       df=st.one_of(st.just(np.inf), st.floats(2.5, 200)), extra=st.integers(0, 3))
def test_adjusted_pvalues_are_ordered(t, df, extra):
    t = np.array(t)
    dfs = np.full(t.size, df)
    raw = raw_pvalues(t, dfs)
    holm = adjusted_pvalues(t, dfs, "holm", 0)
    bonf = adjusted_pvalues(t, dfs, "bonferroni", 0)
    for p in (holm, bonf):
        assert np.all((p >= 0) & (p <= 1))
        assert np.all(p >= raw - 1e-12)
    assert np.all(bonf >= holm - 1e-12)
    tukey = adjusted_pvalues(t[:3], dfs[:3], "tukey", 2 + extra)
    assert np.all(tukey >= raw[:3] - 1e-6) and np.all(tukey <= 1 + 1e-12)
    if extra == 0:
        np.testing.assert_allclose(tukey, raw[:3], rtol=1e-5, atol=1e-9)
