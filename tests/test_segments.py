"""Level sums and gathers over runs of one level (interlace.linalg.segments) against their
definitions, np.bincount and np.take; and the penalised system's products on sorted rows
against the same rows shuffled (which takes the bincount path)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace.linalg.penalized import PenalizedSystem
from interlace.linalg.segments import runs_of
from interlace.model.terms import RandomTerm


@st.composite
def grouped_codes(draw):
    """Codes in runs: a run-length list over levels drawn with repeats and gaps."""
    nlevels = draw(st.integers(1, 12))
    runs = draw(st.lists(st.tuples(st.integers(0, nlevels - 1), st.integers(8, 40)),
                         min_size=1, max_size=10))
    return np.repeat([lv for lv, _ in runs], [ln for _, ln in runs]), nlevels


@settings(max_examples=60, deadline=None)
@given(grouped_codes(), st.integers(0, 2**31 - 1))
def test_runs_sum_and_expand_as_bincount_and_take(cn, seed):
    """Law: runs.sums(v) == bincount(codes, v, nlevels) and runs.expand(x) == x[codes]."""
    codes, nlevels = cn
    runs = runs_of(codes, nlevels)
    assert runs is not None  # runs of at least 8 rows: at most 1/8 of the rows start one
    rng = np.random.default_rng(seed)
    v, x = rng.normal(size=codes.size), rng.normal(size=nlevels)
    np.testing.assert_allclose(runs.sums(v), np.bincount(codes, v, minlength=nlevels),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(runs.expand(x), x[codes])


def test_interleaved_codes_have_no_runs():
    """Rows alternating between levels: no runs (the bincount path)."""
    assert runs_of(np.tile(np.arange(3), 50), 3) is None


def test_sorted_and_shuffled_rows_give_the_same_products():
    """zl_u, zlt_r and the factor's log-determinant on sorted rows (the runs path) equal those
    of the same rows shuffled (the bincount path), permuted back."""
    rng = np.random.default_rng(7)
    n, nl = 400, 20
    codes = np.sort(rng.integers(0, nl, n))
    codes[:nl] = np.arange(nl)
    codes = np.sort(codes)
    perm = rng.permutation(n)
    zl = rng.normal(size=(n, 1))
    w, r, u = rng.random(n), rng.normal(size=n), rng.normal(size=nl)

    def system(c):
        return PenalizedSystem([RandomTerm("g", ["(Intercept)"], c, pd.Index(range(nl)),
                                           np.ones((n, 1)), True)])

    s1, s2 = system(codes), system(codes[perm])
    assert s1.truns[0] is not None and s2.truns[0] is None
    np.testing.assert_allclose(s1.zl_u([zl], u)[perm], s2.zl_u([zl[perm]], u), rtol=1e-14)
    np.testing.assert_allclose(s1.zlt_r([zl], r), s2.zlt_r([zl[perm]], r[perm]), rtol=1e-12)
    f1, f2 = s1.factor([zl], w), s2.factor([zl[perm]], w[perm])
    np.testing.assert_allclose(f1.logdet(), f2.logdet(), rtol=1e-12)
