"""clmm()'s options against R's ordinal::clmm (issue 16): threshold structures, the cauchit link,
two random terms (ordinal's soup); and the exact gradient the fit uses.

References (tests/reference/ordinal_clmm2.json, written by tests/reference/ordinal_clmm2.R with
ordinal 2022.11-16; no R needed here): ``clmm(f, data, link = , threshold = )`` with ordinal's
default control ("default") and with clmm.control(gradTol = 1e-8, rel.tol = 1e-12, eval.max =
1e4, iter.max = 1e4) ("tight"). Estimates and log-likelihood are compared with the tight fit
(ordinal's default fits stop early on soup: max.grad 6e-3); standard errors with it to 1e-2
(ordinal's are finite differences of its objective).

cauchit: ordinal's reported log-likelihood is 2.2e-4 below the Laplace approximation at its own
estimates, evaluated by independent code in the R script (1-D Newton per judge, observed
information; its maximiser is ordinal's estimates to 1e-5): the Cauchy density is not
log-concave and ordinal's inner iterations end elsewhere. interlace's log-likelihood is compared
with the independent value (1e-8) and its estimates with ordinal's.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.errors import DataError, InterlaceError
from interlace.glmm.fitting import glmm_objective
from interlace.ordinal.family import CUMULATIVE_LINKS, OrdinalFamily
from interlace.ordinal.fitting import build_clmm, clmm
from interlace.ordinal.laplace import OrdinalLaplace
from interlace.ordinal.rows import cut_derivatives, cuts_for, information, row_state

REF = json.loads((Path(__file__).parent / "reference" / "ordinal_clmm2.json").read_text())
FIX = REF["fixtures"]
BETA = REF["beta_names"]  # R coefficient name -> interlace (formulaic) name
EST_TOL, LL_TOL, SE_TOL = 1e-4, 1e-4, 1e-2


@cache
def data(name: str) -> pd.DataFrame:
    return interlace.load_dataset(name)


@cache
def fitted(key: str):
    R = FIX[key]
    return clmm(R["formula"], data(R["data"]), link=R["link"], threshold=R["threshold"])


def rel(a, b, floor: float = 0.0) -> float:
    """Largest relative difference, relative to max(|b|, floor)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


@pytest.mark.parametrize("key", sorted(FIX))
def test_estimates_and_loglik_match_ordinal(key):
    r, R = fitted(key), FIX[key]
    tight = R["tight"]
    assert r.converged, r.messages
    assert r.threshold == R["threshold"] and r.ordinal_link == R["link"]
    assert list(r.threshold_coefs.index) == list(tight["alpha"])  # ordinal's names
    # relative to max(|value|, 1): soup's thresholds near 0 (3|4 = -0.12) move by 2e-5 along
    # a flat direction between ordinal's tight fit and interlace's (whose log-likelihood is
    # 9e-8 higher); strictly relative the largest difference is 9.6e-5 there, 1.4e-5 elsewhere
    assert rel(r.threshold_coefs, list(tight["alpha"].values()), 1.0) < EST_TOL
    beta = tight["beta"] or {}  # R writes an empty named list as []
    if beta:
        assert rel(r.fe_params[[BETA[k] for k in beta]], list(beta.values()), 1.0) < EST_TOL
    assert list(r.thresholds.index) == list(tight["Theta"])
    assert rel(r.thresholds, list(tight["Theta"].values()), 1.0) < EST_TOL
    np.testing.assert_allclose(r.family.structure.T, np.asarray(tight["tJac"], float))
    for grp, rec in tight["varcorr"].items():
        assert rel(np.diag(r.variance_components[grp].to_numpy()), np.diag(rec["cov"])) < 1e-3
    ll = R["independent"]["loglik"] if "independent" in R else tight["loglik"]
    assert abs(r.llf - ll) < (1e-8 if "independent" in R else LL_TOL)
    assert r.df_modelwc == tight["edf"]


@pytest.mark.parametrize("key", sorted(FIX))
def test_standard_errors_match_ordinal(key):
    """Against the tight fit's; for cauchit against the default fit's (the tight fit's
    differences of its objective, which is not the Laplace approximation there, give SEs 35%
    smaller; interlace's from the exact Laplace agree with the default's to 4e-3)."""
    r = fitted(key)
    se = FIX[key]["default" if key == "wine_cauchit" else "tight"]["se"]
    names = list(r.threshold_coefs.index)
    assert rel(r.threshold_coef_bse[names], [se[k] for k in names]) < SE_TOL
    rn = [k for k in se if k in BETA]
    if rn:
        assert rel(r.fe_bse[[BETA[k] for k in rn]], [se[k] for k in rn]) < SE_TOL
    assert list(r.vcov_all.index)[: len(names)] == names
    assert list(r.coef.index) == names + list(r.fe_params.index)


def test_cauchit_estimates_maximise_the_independent_laplace():
    """ordinal's estimates are the maximiser of the independent code's Laplace approximation
    (its value there equals the maximum), but ordinal reports a lower log-likelihood."""
    ind = FIX["wine_cauchit"]["independent"]
    assert abs(ind["loglik"] - ind["loglik_at_ordinal"]) < 1e-8
    assert FIX["wine_cauchit"]["tight"]["loglik"] < ind["loglik"] - 2e-4
    r = fitted("wine_cauchit")
    assert rel(r.threshold_coefs, list(ind["alpha"].values())) < EST_TOL


@pytest.mark.parametrize("key", ["wine_symmetric", "wine_equidistant", "soup_symmetric"])
def test_summary_prints_ordinal_threshold_table(key):
    """The header names the structure; the "Threshold coefficients" table has ordinal's names,
    estimates and standard errors (ordinal prints 4 or 5 decimals)."""
    r, lines = fitted(key), FIX[key]["tight"]["summary_thresholds"]
    text = r.summary_text()
    header = text.splitlines()[5].split()
    assert header[:2] == [r.ordinal_link, FIX[key]["threshold"]]
    table = text[text.index("Threshold coefficients:"):].splitlines()
    for line in lines[2:]:
        name, est, se = line.split()[:3]
        (ours,) = [t.split() for t in table if t.split()[:1] == [name]]
        assert len(ours[1].split(".")[1]) == len(est.split(".")[1])  # R's digits
        assert abs(float(ours[1]) - float(est)) <= 1.5 * 10 ** -len(est.split(".")[1])
        assert abs(float(ours[2]) - float(se)) / float(se) < SE_TOL


def test_threshold_structures_need_three_levels_and_a_known_name():
    w = data("wine").assign(two=lambda d: (d["rating"] > 2).astype(int))
    for kind in ("symmetric", "equidistant"):
        with pytest.raises(DataError, match=rf"response 'two'.*{kind} thresholds need .*3"):
            clmm("two ~ temp + (1 | judge)", w, threshold=kind)
    with pytest.raises(InterlaceError, match="threshold must be one of 'flexible', 'symm"):
        clmm("rating ~ temp + (1 | judge)", w, threshold="symetric")
    assert "symmetric" in repr(OrdinalFamily(ncat=4, threshold="symmetric"))


# -- the exact gradient -------------------------------------------------------------------------
@pytest.mark.parametrize("link", sorted(CUMULATIVE_LINKS))
def test_cut_point_derivatives_match_differences(link):
    """l, s and W differentiated in the cut points a and b (ordinal.rows) against central
    differences of the row state, for every link, rows in every category."""
    F = CUMULATIVE_LINKS[link]
    tau = np.array([-1.3, -0.2, 0.9, 2.1])
    y = np.repeat(np.arange(5), 7)
    eta = np.tile(np.linspace(-3.0, 3.0, 7), 5)
    cuts = cuts_for(tau, y)
    st = row_state(F, cuts, eta, True)
    d = cut_derivatives(F, cuts, st)
    h = 1e-6

    def quantities(dup, dlo):
        moved = cuts_for(tau, y)
        moved.up, moved.lo = cuts.up + dup, cuts.lo + dlo
        s = row_state(F, moved, eta, True)
        return s["lp"], s["rb"] - s["ra"], information(s, False)

    for side, (du, dl) in (("a", (h, 0.0)), ("b", (0.0, h))):
        p, m = quantities(du, dl), quantities(-du, -dl)
        num = [(x - z) / (2 * h) for x, z in zip(p, m)]
        finite = np.isfinite(cuts.up) if side == "a" else np.isfinite(cuts.lo)
        for k, n in zip(("l", "s", "W"), num):
            np.testing.assert_allclose(d[k + side][finite], n[finite], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{k}_{side}")
            assert np.all(d[k + side][~finite] == 0.0)


@pytest.mark.parametrize("link, threshold", [("logit", "flexible"), ("probit", "symmetric"),
                                             ("cauchit", "flexible"), ("loglog", "equidistant"),
                                             ("cloglog", "symmetric")])
def test_exact_gradient_matches_differences_of_the_deviance(link, threshold):
    """OrdinalLaplace's gradient (theta, beta and the thresholds' parameters) against central
    differences of the Laplace deviance, away from the optimum, on two random terms."""
    ctx = build_clmm("rating ~ temp + contact + (1 | judge) + (1 | bottle)", data("wine"), link,
                     threshold=threshold)
    dev = glmm_objective(ctx, OrdinalLaplace())
    x = dev.start()
    x[:2] = [0.9, 0.4]
    x[2:4] += [0.3, -0.2]
    x[4:] += 0.05 * np.arange(1, x.size - 3)
    g = dev.gradient(x)
    num = np.array([(dev(x + e) - dev(x - e)) / 2e-6 for e in 1e-6 * np.eye(x.size)])
    np.testing.assert_allclose(g, num, rtol=2e-5, atol=2e-6)


def test_default_integrator_is_the_exact_laplace():
    """The default fit and a fit with the laplace plugin (gradient by differences in the
    thresholds) reach the same optimum; the default's evaluations are fewer."""
    a = fitted("wine_equidistant")
    b = clmm(FIX["wine_equidistant"]["formula"], data("wine"), threshold="equidistant",
             integrator="laplace")
    assert a.integrator == b.integrator == "laplace"
    assert abs(a.llf - b.llf) < 1e-8
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-5)
    assert a.evaluations < b.evaluations


def test_cli_runs_a_config_with_a_threshold_structure(tmp_path, capsys):
    """`interlace run` on a config with `threshold: equidistant` prints ordinal's summary of
    that structure and writes its threshold coefficients."""
    from interlace.cli import main

    cfg = tmp_path / "wine_eq.yaml"
    cfg.write_text("model: clmm\nthreshold: equidistant\ndata: {dataset: wine}\n"
                   "formula: rating ~ temp + contact + (1 | judge)\n")
    out = tmp_path / "out.json"
    assert main(["run", str(cfg), "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "equidistant" in text and "threshold.1" in text and "spacing" in text
    res = json.loads(out.read_text())["result"]
    r = fitted("wine_equidistant")
    assert res["threshold"] == "equidistant"
    assert [v["estimate"] for v in res["threshold_coefficients"].values()] == list(
        r.threshold_coefs)


def test_intervals_name_ordinal_threshold_coefficients():
    """conf_int() (Wald, the default) gives ordinal's threshold coefficients, estimate -/+ z SE
    (as ordinal's confint(clmm)); profile intervals of equidistant coefficients contain their
    estimates; symmetric ones are not profiled (NaN, with a warning)."""
    from scipy.stats import norm

    sym = fitted("wine_symmetric")
    ci = sym.conf_int()
    names = list(sym.threshold_coefs.index)
    z = norm.ppf(0.975)
    np.testing.assert_allclose(ci.loc[names, "lower"], sym.threshold_coefs - z * sym.threshold_coef_bse)
    np.testing.assert_allclose(ci.loc[names, "upper"], sym.threshold_coefs + z * sym.threshold_coef_bse)
    eq = fitted("wine_equidistant")
    prof = eq.conf_int(method="profile", parm="threshold")
    assert list(prof.index) == ["threshold.1", "spacing"]
    assert np.all(prof["lower"] < eq.threshold_coefs) and np.all(eq.threshold_coefs < prof["upper"])
    with pytest.warns(interlace.InterlaceWarning, match="cannot be profiled"):
        assert sym.conf_int(method="profile", parm="threshold").isna().all().all()
