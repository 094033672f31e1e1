"""YAML fit configs: loading, validation messages, defaults/extends, formulas, data, hashes."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace.config import ConfigError, check_formula, load, load_data, loads, run_fit
from interlace.config.loader import canonical
from interlace.config.runner import flatten
from interlace.datasets import load_dataset
from interlace.registry import registry, reload_plugins

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"

CBPP = """\
data: {dataset: cbpp}
formula: incidence / size ~ period
family: binomial
groups: herd
weights: size
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def errors_of(*args, **kw) -> list[str]:
    with pytest.raises(ConfigError) as ei:
        load(*args, **kw)
    return [str(i) for i in ei.value.issues]


# -- the shipped configs ------------------------------------------------------------------
SEED_EXAMPLES = {
    "cbpp_binomial": ("binomial", 1, "lbfgsb"),
    "counts_poisson_crossed": ("poisson", 1, "lbfgsb"),
    "counts_nbinom2": ("nbinom2", 1, "lbfgsb"),
    "counts_poisson_site": ("poisson", 1, "lbfgsb"),
    "cbpp_random_term": ("binomial", 1, "lbfgsb"),
    "cbpp_bobyqa": ("binomial", 1, "bobyqa"),
    "cbpp_agq25": ("binomial", 25, "lbfgsb"),
}


def test_configs_folder_holds_every_seed_example_and_validates():
    specs = load([CONFIGS])
    by_name = {s.name: s for s in specs}
    assert set(by_name) == set(SEED_EXAMPLES) | {"sleepstudy_lmm", "wine_clmm"}
    assert by_name["sleepstudy_lmm"].config["model"] == "lmm"
    assert by_name["wine_clmm"].config["model"] == "clmm"
    for name, (family, nagq, opt) in SEED_EXAMPLES.items():
        c = canonical(by_name[name].config)
        assert (c["family"], c["nAGQ"], c["optimizer"]) == (family, nagq, opt), name
    assert by_name["counts_nbinom2"].config["family_params"] == {"theta": 2.0}
    assert by_name["cbpp_random_term"].config["random"] == ["(1 | herd)"]
    assert "groups" not in by_name["cbpp_random_term"].config
    assert by_name["counts_poisson_crossed"].config["groups"] == ["site", "year"]


def test_seed_configs_reproduce_the_seed_fits():
    """Each config gives the fit of the seed's Python call, number for number."""
    specs = {s.name: s for s in load([CONFIGS])}
    cbpp = interlace.load_dataset("cbpp")
    counts = interlace.load_dataset("seed_counts")
    direct = {
        "cbpp_binomial": lambda: interlace.glmer("incidence / size ~ period", cbpp, "binomial",
                                                 groups="herd", weights=cbpp["size"].values),
        "cbpp_random_term": lambda: interlace.glmer("incidence / size ~ period", cbpp, "binomial",
                                                    random=["(1 | herd)"],
                                                    weights=cbpp["size"].values),
        "counts_nbinom2": lambda: interlace.glmer(
            "count ~ x1 + x2", counts, interlace.NegativeBinomial2Family(theta=2.0), groups="site"),
        "counts_poisson_crossed": lambda: interlace.glmer("count ~ x1 + x2", counts, "poisson",
                                                          groups=["site", "year"]),
    }
    for name, fit in direct.items():
        rec = run_fit(specs[name])
        assert rec["status"] == "ok", rec["message"]
        r = fit()
        got = rec["result"]
        assert got["fit"]["llf"] == pytest.approx(r.llf, abs=1e-9)
        est = [v["estimate"] for v in got["fixed_effects"].values()]
        np.testing.assert_allclose(est, r.fe_params.to_numpy(), rtol=1e-9, atol=1e-12)


# -- validation messages ------------------------------------------------------------------
def test_unknown_key_is_an_error_with_the_closest_key_file_and_line(tmp_path):
    p = write(tmp_path, "fit.yaml", CBPP + "optimiser: bobyqa\n")
    (msg,) = errors_of([p])
    assert "fit.yaml:6:" in msg and "optimiser" in msg and "did you mean 'optimizer'" in msg


def test_every_error_of_a_batch_is_reported_at_once(tmp_path):
    a = write(tmp_path, "a.yaml", CBPP.replace("binomial", "binomal"))
    b = write(tmp_path, "b.yaml", CBPP.replace("nAGQ", "x") + "nAGQ: 0\n")
    c = write(tmp_path, "c.yaml", "fits:\n  - data: {dataset: cbpx}\n    formula: y ~ x\n"
                                  "  - formula: 3\n")
    msgs = errors_of([a, b, c, tmp_path / "missing.yaml"])
    text = "\n".join(msgs)
    assert "a.yaml:3: family: 'binomal' is not a registered family" in text
    assert "did you mean 'binomial'" in text
    assert "b.yaml:6: nAGQ: got 0; expected an integer from 1 to 100" in text
    assert "c.yaml:2: fits[0].data.dataset: 'cbpx'" in text and "did you mean 'cbpp'" in text
    assert "c.yaml:4: fits[1].formula: got 3; expected a non-empty string" in text
    assert "fits[1].data: required key 'data' is missing" in text
    assert "missing.yaml: no such file or folder" in text
    assert len(msgs) >= 6


@pytest.mark.parametrize("extra, where, expect", [
    ("link: logit\nfamily: poisson\n", "link", "not available for family 'poisson'"),
    ("family: nbinom2\nfamily_params: {thetta: 2}\n", "family_params.thetta",
     "did you mean 'theta'"),
    ("family: nbinom2\nfamily_params: {theta: -1}\n", "family_params.theta", "positive"),
    ("optimizer: bobyqaa\n", "optimizer", "did you mean 'bobyqa'"),
    ("integrator: laplacee\n", "integrator", "did you mean 'laplace'"),
    ("nAGQ: 2.5\n", "nAGQ", "expected an integer"),
    ("nAGQ: true\n", "nAGQ", "expected an integer"),
    ("output: {paht: x.json}\n", "output.paht", "did you mean 'path'"),
    ("optimizer_options: [1, 2]\n", "optimizer_options", "expected a mapping"),
    ("offset: nosuch\n", "offset", "column 'nosuch' is not in the data"),
])
def test_semantic_errors_name_the_key_value_and_expectation(tmp_path, extra, where, expect):
    base = CBPP.replace("family: binomial\n", "") if "family:" in extra else CBPP
    if "family: poisson" in extra or "family: nbinom2" in extra:
        base = base.replace("incidence / size ~ period", "incidence ~ period").replace(
            "weights: size\n", "")
    p = write(tmp_path, "f.yaml", base + extra)
    msgs = errors_of([p])
    assert any(f" {where}:" in m and expect in m for m in msgs), msgs


def test_formula_columns_are_checked_against_the_data_header(tmp_path):
    p = write(tmp_path, "f.yaml", CBPP.replace("~ period", "~ perod"))
    (msg,) = errors_of([p])
    assert "formula" in msg and "'perod'" in msg and "did you mean 'period'" in msg


def test_yaml_syntax_errors_give_the_line(tmp_path):
    p = write(tmp_path, "f.yaml", "data: {dataset: cbpp}\nformula: [unclosed\nfamily: x\n")
    (msg,) = errors_of([p])
    assert "f.yaml:" in msg and "invalid YAML" in msg


def test_duplicate_keys_are_errors(tmp_path):
    p = write(tmp_path, "f.yaml", CBPP + "family: poisson\n")
    (msg,) = errors_of([p])
    assert "duplicate key 'family'" in msg and "f.yaml:6" in msg


def test_unsafe_yaml_tags_never_run(tmp_path):
    marker = tmp_path / "pwned"
    p = write(tmp_path, "f.yaml", CBPP + f"description: !!python/object/apply:os.system "
                                         f"['touch {marker}']\n")
    (msg,) = errors_of([p])
    assert "f.yaml:6" in msg and "not allowed" in msg
    assert not marker.exists()


def test_alias_bombs_are_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    p = write(tmp_path, "f.yaml", "\n".join(lines) + "\n")
    (msg,) = errors_of([p])
    assert "expands to more than" in msg


def test_a_non_mapping_document_is_an_error(tmp_path):
    p = write(tmp_path, "f.yaml", "just text\n")
    (msg,) = errors_of([p])
    assert "expected a mapping (one fit)" in msg


# -- file forms, defaults, extends --------------------------------------------------------
def test_list_files_defaults_and_default_names(tmp_path):
    p = write(tmp_path, "grid.yaml", """\
defaults:
  data: {dataset: seed_counts}
  formula: count ~ x1 + x2
  groups: site
fits:
  - family: poisson
  - family: nbinom2
    family_params: {theta: 2}
  - {name: crossed, family: poisson, groups: [site, year]}
""")
    specs = load([p])
    assert [s.name for s in specs] == ["grid[0]", "grid[1]", "crossed"]
    assert specs[2].config["groups"] == ["site", "year"]
    assert specs[0].config["formula"] == "count ~ x1 + x2"
    assert specs[1].source.endswith("grid.yaml#fits[1]")
    q = write(tmp_path, "list.yaml", "- " + CBPP.replace("\n", "\n  ") + "\n- "
              + CBPP.replace("\n", "\n  ").replace("binomial", "bernoulli"))
    assert [s.name for s in load([q], check_duplicates=False)] == ["list[0]", "list[1]"]


def test_extends_merges_mappings_replaces_values_and_null_removes(tmp_path):
    write(tmp_path, "_base.yaml", CBPP + "name: base\noptimizer_options: {maxiter: 500, "
                                         "ftol: 1.0e-12}\n")
    child = write(tmp_path, "sub/child.yaml", """\
extends: ../_base.yaml
groups: null
random: ['(1 | herd)']
optimizer_options: {maxiter: 900}
""")
    (spec,) = load([child])
    c = spec.config
    assert spec.name == "child"  # names are never inherited
    assert "groups" not in c and c["random"] == ["(1 | herd)"]
    assert c["optimizer_options"] == {"maxiter": 900, "ftol": 1e-12}
    assert c["weights"] == "size" and c["data"] == {"dataset": "cbpp"}


def test_folders_and_globs_skip_underscore_bases(tmp_path):
    write(tmp_path, "_base.yaml", CBPP)
    write(tmp_path, "a.yaml", "extends: _base.yaml\n")
    write(tmp_path, "b.yml", "extends: _base.yaml\noptimizer: bobyqa\n")
    assert [s.name for s in load([tmp_path])] == ["a", "b"]
    assert [s.name for s in load([str(tmp_path / "*.y*ml")])] == ["a", "b"]
    assert [s.name for s in load([tmp_path, tmp_path / "a.yaml"])] == ["a", "b"]  # no repeats


def test_errors_in_an_extended_base_point_into_the_base(tmp_path):
    write(tmp_path, "_base.yaml", CBPP + "famliy: x\n")
    child = write(tmp_path, "child.yaml", "extends: _base.yaml\n")
    (msg,) = errors_of([child])
    assert "_base.yaml:6: famliy" in msg and "inherited by" in msg and "child.yaml" in msg


def test_inherited_label_says_where_the_key_comes_from(tmp_path, monkeypatch):
    """A fit's own key is never labelled inherited (however its file is named); a key from
    the file's defaults or from an extended file says so."""
    write(tmp_path, "grid.yaml", """\
defaults:
  data: {dataset: cbpp}
  family: binomal
fits:
  - formula: incidence / size ~ period
    nAGQ: 0
""")
    write(tmp_path, "_base.yaml", CBPP.replace("binomial", "poison"))
    write(tmp_path, "child.yaml", "extends: _base.yaml\nnAGQ: 0\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    for prefix in ("", "sub/../"):
        own, dflt = sorted(errors_of([prefix + "grid.yaml"]), key=lambda m: "defaults" in m)
        assert "fits[0].nAGQ: got 0" in own and "inherited" not in own
        assert "defaults.family" in dflt and dflt.endswith(
            "(inherited by grid.yaml#fits[0] from the file's defaults)")
        msgs = errors_of([prefix + "child.yaml"])
        (own,) = [m for m in msgs if "nAGQ" in m]
        (base,) = [m for m in msgs if "poison" in m]
        assert "inherited" not in own
        assert base.endswith("(inherited by child.yaml through extends)")


def test_extends_cycles_and_missing_bases(tmp_path):
    write(tmp_path, "a.yaml", CBPP + "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    msgs = errors_of([tmp_path / "a.yaml"])
    assert any("cycle" in m for m in msgs)
    c = write(tmp_path, "c.yaml", "extends: nowhere.yaml\n")
    (msg,) = errors_of([c])
    assert "c.yaml:1: extends" in msg and "does not exist" in msg


def test_identical_fits_in_one_batch_are_an_error(tmp_path):
    a = write(tmp_path, "x/f.yaml", CBPP)
    b = write(tmp_path, "y/f.yaml", CBPP)
    (msg,) = errors_of([a, b])
    assert "describes the same fit" in msg


# -- formulas -----------------------------------------------------------------------------
@pytest.mark.parametrize("formula", [
    "y ~ x", "y ~ log(x) + exp(z)", "y ~ sqrt(x + 1)", "y ~ scale(x) * center(z)",
    "y ~ poly(x, 2)", "y ~ poly(x, degree=3, raw=True)", "y ~ C(g)", "y ~ C(g, Sum)",
    "y ~ C(g, Treatment(reference='b'))", "y ~ I(x ** 2) + I(x / 1000) + I(a > 0)",
    "y ~ (a + b)^2 - 1", "y ~ a:b + a %in% b", "cbind(s, n - s) ~ x + (1 + x | g)",
    "s / n ~ x + (x || g) + (1 | a/b)", "y ~ x + offset(log(n))", "y ~ 0 + x", "y ~ `my col`",
    "log(y) ~ x", "y ~ log10(x) + log2(z) + standardize(w)",
])
def test_allowed_formulas(formula):
    assert check_formula(formula).problems == []


@pytest.mark.parametrize("formula, words", [
    ("y ~ {__import__('os').system('x')}", "{...}"),
    ("y ~ I({x})", "{...}"),
    ("y ~ np.log(x)", "attribute access"),
    ("y ~ eval('1')", "function 'eval'"),
    ("y ~ __import__('os')", "function '__import__'"),
    ("y ~ I(x.__class__)", "attribute access"),
    ("y ~ I(x[0])", "subscripting"),
    ("y ~ I((lambda: 1)())", "this call"),
    ("y ~ I([a for a in b])", "ListComp"),
    ("y ~ log(x).real", "must be a column"),
    ("y ~ I(__builtins__)", "'__builtins__'"),
    ("y ~ getattr(x, 'y')", "function 'getattr'"),
    ("y ~ x + offset(exec('1'))", "function 'exec'"),
    ("open('f') ~ x", "function 'open'"),
    ("y ~ (1 | g) + (exec('1') | h)", "function 'exec'"),
    ("y ~ log(*x)", "unpacking"),
    ("y ~ x +", "empty term"),
])
def test_refused_formulas(formula, words):
    problems = check_formula(formula).problems
    assert problems and any(words in p for p in problems), problems


def test_formula_columns_are_collected():
    res = check_formula("cbind(s, n - s) ~ log(x) + C(f) + I(z ** 2) + (1 + w | g)",
                        groups=["h"])
    assert res.columns == {"s", "n", "x", "f", "z", "w", "g", "h"}


def test_sqrt_in_a_config_formula_fits(tmp_path):
    p = write(tmp_path, "f.yaml", "data: {dataset: seed_counts}\nformula: count ~ sqrt(x1 + 3)"
                                  "\nfamily: poisson\ngroups: site\n")
    (spec,) = load([p])
    rec = run_fit(spec)
    assert rec["status"] == "ok", rec["message"]
    assert len(rec["result"]["fixed_effects"]) == 2


# -- data ---------------------------------------------------------------------------------
def test_csv_paths_are_relative_to_the_config_with_factors_and_where(tmp_path):
    df = interlace.load_dataset("seed_counts")
    (tmp_path / "data").mkdir()
    df.to_csv(tmp_path / "data" / "counts.csv", index=False)
    p = write(tmp_path, "cfg/f.yaml", """\
data:
  path: ../data/counts.csv
  factors: [site, year]
  where: {year: [2010, 2011, 2012]}
formula: count ~ x1 + x2
family: poisson
groups: site
""")
    (spec,) = load([p])
    assert Path(spec.config["data"]["path"]).is_absolute()
    data = load_data(spec.config["data"])
    assert set(data["year"]) == {"2010", "2011", "2012"}
    assert not pd.api.types.is_numeric_dtype(data["site"])
    rec = run_fit(spec)
    assert rec["status"] == "ok" and rec["result"]["nobs"] == len(data)


def test_parquet_data(tmp_path):
    df = interlace.load_dataset("cbpp")
    df.to_parquet(tmp_path / "cbpp.parquet")
    p = write(tmp_path, "f.yaml", CBPP.replace("{dataset: cbpp}", "{path: cbpp.parquet}"))
    (spec,) = load([p])
    assert run_fit(spec)["result"]["fit"]["llf"] == pytest.approx(-92.0263, abs=1e-3)


def test_data_problems_are_config_errors(tmp_path):
    (tmp_path / "d.txt").write_text("a,b\n1,2\n")
    p = write(tmp_path, "f.yaml", CBPP.replace("{dataset: cbpp}", "{path: d.txt}"))
    assert "cannot tell the format" in errors_of([p])[0]
    q = write(tmp_path, "g.yaml", CBPP.replace("{dataset: cbpp}",
                                               "{dataset: cbpp, path: x.csv}"))
    assert "give exactly one of dataset, path" in errors_of([q])[0]
    r = write(tmp_path, "h.yaml", CBPP.replace("{dataset: cbpp}",
                                               "{dataset: cbpp, factors: [perid]}"))
    assert "data.factors[0]" in errors_of([r])[0]


# -- hashes -------------------------------------------------------------------------------
def test_content_hash_ignores_spelling_and_follows_content(tmp_path):
    (a,) = loads(CBPP)
    (b,) = loads(CBPP.replace("binomial", "Bernoulli") + "nAGQ: 1\noptimizer: L-BFGS-B\n"
                 "output: {summary: false}\n")
    assert a.key == b.key
    (c,) = loads(CBPP + "nAGQ: 2\n")
    (d,) = loads(CBPP + "name: other\n")
    assert len({a.key, c.key, d.key}) == 3
    df = interlace.load_dataset("cbpp")
    df.to_csv(tmp_path / "d.csv", index=False)
    text = CBPP.replace("{dataset: cbpp}", "{path: d.csv}")
    (e,) = loads(text, base_dir=tmp_path)
    (e2,) = loads(text, base_dir=tmp_path)
    assert e.key == e2.key
    df.assign(size=df["size"] + 1).to_csv(tmp_path / "d.csv", index=False)
    (f,) = loads(text, base_dir=tmp_path)
    assert f.key != e.key  # the data changed, so the fit did


# -- plugins by name ----------------------------------------------------------------------
def test_a_third_party_plugin_is_usable_from_yaml_by_name(tmp_path):
    from interlace.families.poisson import PoissonFamily

    class Counts2(PoissonFamily):
        name = "my_counts"
        aliases = ()

    mod = types.ModuleType("my_plugin_for_configs")

    @interlace.hookimpl
    def interlace_families():
        return [Counts2]

    mod.interlace_families = interlace_families
    sys.modules[mod.__name__] = mod
    p = write(tmp_path, "f.yaml", "data: {dataset: seed_counts}\nformula: count ~ x1\n"
                                  "family: my_counts\ngroups: site\n")
    assert "not a registered family" in errors_of([p])[0]
    registry().register(mod, name="my_plugin_for_configs")
    try:
        (spec,) = load([p])
        rec = run_fit(spec)
        assert rec["status"] == "ok" and rec["result"]["model"]["family"] == "my_counts"
    finally:
        sys.modules.pop(mod.__name__, None)
        reload_plugins()


def test_run_fit_never_raises_for_a_failing_fit():
    (spec,) = loads("data: {dataset: seed_counts}\nformula: count ~ x1\nfamily: binomial\n"
                    "groups: site\n")
    rec = run_fit(spec)
    assert rec["status"] == "error" and rec["error_type"] == "DataError"
    assert "count" in rec["message"] and rec["result"] is None


def test_non_convergence_is_a_warning_record():
    (spec,) = loads(CBPP + "optimizer_options: {maxiter: 1}\n")
    rec = run_fit(spec)
    assert rec["status"] == "warning" and "gradient" in rec["message"]
    assert rec["result"]["convergence"]["converged"] is False


def test_records_hold_estimates_errors_components_and_diagnostics():
    (spec,) = loads(CBPP + "output: {random_effects: true}\n")
    res = run_fit(spec)["result"]
    fe = res["fixed_effects"]["(Intercept)"]
    assert set(fe) == {"estimate", "std_error", "z_value", "p_value"}
    assert res["variance_components"][0]["group"] == "herd"
    assert res["convergence"]["converged"] is True and "max_grad" in res["convergence"]
    assert len(res["random_effects"]["herd"]["levels"]) == 15
    assert isinstance(pd.DataFrame(res["vcov"]["matrix"]), pd.DataFrame)


def test_yaml_anchors_and_merge_keys_work(tmp_path):
    p = write(tmp_path, "f.yaml", """\
- &cbpp
  name: a
  data: {dataset: cbpp}
  formula: incidence / size ~ period
  groups: herd
  weights: size
- <<: *cbpp
  name: b
  optimizer: bobyqa
""")
    a, b = load([p])
    assert b.config["formula"] == a.config["formula"] and b.config["optimizer"] == "bobyqa"
    assert a.key != b.key


def test_no_optimizer_means_what_glmer_means_without_one():
    """A config without ``optimizer`` passes ``optimizer=None`` to glmer: the model kind's
    default (the GLMM default for a GLMM, the LMM's built-in method for a Gaussian-identity
    model); records report the optimizer used, and the content hash tells the two apart."""
    from interlace.config import glmer_kwargs
    from interlace.optimizers import default_optimizer

    sleep = ("data: {dataset: sleepstudy}\nformula: Reaction ~ Days + (1 | Subject)\n"
             "family: gaussian\n")
    (lmm,) = loads(sleep)
    (lmm_named,) = loads(sleep + f"optimizer: {default_optimizer()}\n")
    (glmm,) = loads(CBPP)
    (glmm_named,) = loads(CBPP + f"optimizer: {default_optimizer()}\n")
    for spec in (lmm, glmm):
        assert glmer_kwargs(spec.config, load_data(spec.config["data"]))["optimizer"] is None
    sleepstudy = interlace.load_dataset("sleepstudy")
    direct = interlace.glmer("Reaction ~ Days + (1 | Subject)", sleepstudy, "gaussian")
    rec = run_fit(lmm)
    assert rec["result"]["model"]["optimizer"] == direct.optimizer
    assert rec["result"]["fit"]["llf"] == pytest.approx(direct.llf, abs=1e-9)
    assert direct.optimizer != default_optimizer()
    assert run_fit(glmm)["result"]["model"]["optimizer"] == default_optimizer()
    assert canonical(lmm.config)["optimizer"] is None and lmm.key != lmm_named.key
    assert canonical(glmm.config)["optimizer"] == default_optimizer()
    assert glmm.key == glmm_named.key  # naming the default is the same fit


# -- model kinds: glmm, lmm, clmm -----------------------------------------------------------
SLEEP = "data: {dataset: sleepstudy}\nformula: Reaction ~ Days + (Days | Subject)\n"
WINE = "data: {dataset: wine}\nformula: rating ~ temp + contact\ngroups: judge\n"


@pytest.mark.parametrize("extra, call", [
    ("model: lmm\n", lambda d: interlace.fit("Reaction ~ Days + (Days | Subject)", d)),
    ("model: lmm\nmethod: ML\n",
     lambda d: interlace.fit("Reaction ~ Days + (Days | Subject)", d, method="ML")),
])
def test_lmm_from_yaml_is_the_python_call(extra, call):
    (spec,) = loads(SLEEP + extra)
    rec = run_fit(spec)
    py = call(load_dataset("sleepstudy"))
    res = rec["result"]
    assert rec["status"] == "ok" and res["model"]["kind"] == "lmm" and res["method"] == py.method
    assert [v["estimate"] for v in res["fixed_effects"].values()] == list(py.fe_params)
    assert [v["std_error"] for v in res["fixed_effects"].values()] == list(py.fe_bse)
    assert res["fit"]["llf"] == py.llf and res["fit"]["aic"] == py.aic
    assert res["fit"]["reml_criterion"] == py.reml_criterion
    assert (res["fit"]["reml_criterion"] is None) == (py.method == "ML")
    assert [v["vcov"] for v in res["variance_components"]] == list(py.varcorr["vcov"])
    row = flatten(rec)
    assert row["model"] == "lmm" and row["method"] == py.method


def test_clmm_from_yaml_is_the_python_call():
    (spec,) = loads(WINE + "model: clmm\nlink: probit\n")
    rec = run_fit(spec)
    py = interlace.clmm("rating ~ temp + contact", load_dataset("wine"), link="probit",
                        groups="judge")
    res = rec["result"]
    assert rec["status"] == "ok" and res["model"]["kind"] == "clmm"
    assert res["model"]["link"] == "probit" == py.ordinal_link
    assert [v["estimate"] for v in res["fixed_effects"].values()] == list(py.fe_params)
    assert [v["std_error"] for v in res["fixed_effects"].values()] == list(py.fe_bse)
    assert list(res["thresholds"]) == [str(t) for t in py.thresholds.index]
    assert [v["estimate"] for v in res["thresholds"].values()] == list(py.thresholds)
    assert [v["std_error"] for v in res["thresholds"].values()] == list(py.threshold_bse)
    assert res["fit"]["llf"] == py.llf and res["convergence"]["converged"] == py.converged
    row = flatten(rec)
    assert row["model"] == "clmm" and row["th:1|2"] == py.thresholds.iloc[0]


def test_clmm_threshold_from_yaml_is_the_python_call():
    """``threshold:`` reaches interlace.clmm; the record carries the structure, the K-1
    thresholds and ordinal's threshold coefficients; naming the default hashes the same."""
    (spec,) = loads(WINE + "model: clmm\nthreshold: equidistant\n")
    rec = run_fit(spec)
    py = interlace.clmm("rating ~ temp + contact", load_dataset("wine"), groups="judge",
                        threshold="equidistant")
    res = rec["result"]
    assert rec["status"] == "ok" and res["threshold"] == "equidistant"
    assert [v["estimate"] for v in res["thresholds"].values()] == list(py.thresholds)
    coefs = res["threshold_coefficients"]
    assert list(coefs) == ["threshold.1", "spacing"]
    assert [v["estimate"] for v in coefs.values()] == list(py.threshold_coefs)
    assert [v["std_error"] for v in coefs.values()] == list(py.threshold_coef_bse)
    assert res["fit"]["llf"] == py.llf
    plain = loads(WINE + "model: clmm\n")[0].key
    assert loads(WINE + "model: clmm\nthreshold: flexible\n")[0].key == plain != spec.key
    (msg,) = [str(i) for i in _issues(WINE + "model: clmm\nthreshold: symetric\n")]
    assert "threshold: got 'symetric'; expected one of flexible, symmetric, equidistant" in msg
    (msg,) = [str(i) for i in _issues(CBPP + "threshold: symmetric\n")]  # no model: a GLMM
    assert "key 'threshold' does not apply to model: glmm" in msg and "model: clmm" in msg


def test_glmm_is_the_default_kind():
    (spec,) = loads(CBPP)
    assert spec.config.get("model", "glmm") == "glmm"
    assert loads(CBPP + "model: glmm\n")[0].key == spec.key


@pytest.mark.parametrize("model, key, value", [
    ("lmm", "family", "gaussian"), ("lmm", "ziformula", "'~ 1'"), ("lmm", "dispformula", "'~ 1'"),
    ("lmm", "integrator", "laplace"), ("lmm", "link", "identity"), ("lmm", "nAGQ", "5"),
    ("clmm", "family", "binomial"), ("clmm", "ziformula", "'~ 1'"),
    ("clmm", "dispformula", "'~ 1'"), ("clmm", "method", "ML"), ("glmm", "method", "ML"),
    ("glmm", "threshold", "symmetric"), ("lmm", "threshold", "equidistant"),
])
def test_keys_a_model_kind_does_not_take_are_errors_naming_them(model, key, value):
    base = CBPP if model == "glmm" else SLEEP if model == "lmm" else WINE
    text = "\n".join(line for line in base.splitlines() if not line.startswith(key + ":"))
    msgs = [str(i) for i in _issues(text + f"\nmodel: {model}\n{key}: {value}\n")]
    assert len(msgs) == 1, msgs
    assert f"{key}: key {key!r} does not apply to model: {model}" in msgs[0]


def test_clmm_links_are_the_cumulative_links():
    msgs = [str(i) for i in _issues(WINE + "model: clmm\nlink: log\n")]
    assert msgs == ["<text>.yaml:5: link: got 'log'; expected a cumulative link for model: clmm, "
                    "one of logit, probit, cloglog, loglog, cauchit; did you mean 'logit'?"]
    for link in ("logit", "probit", "cloglog", "loglog", "cauchit"):
        assert loads(WINE + f"model: clmm\nlink: {link}\n")
    assert [str(i) for i in _issues(SLEEP + "model: lmm\nmethod: reml\n")][0].endswith(
        "got 'reml'; expected one of REML, ML; did you mean 'REML'?")
    (msg,) = [str(i) for i in _issues(CBPP + "method: ML\n")]  # no model: a GLMM
    assert msg == ("<text>.yaml:6: method: key 'method' does not apply to model: glmm "
                   "(interlace.glmer); remove it (method: REML or ML is for model: lmm)")


def test_family_ordinal_points_to_model_clmm():
    (msg,) = [str(i) for i in _issues(WINE + "family: ordinal\n")]
    assert msg == ("<text>.yaml:4: family: 'ordinal' is not a glmer family: its model is fitted by "
                   "interlace.clmm(); write `model: clmm` (with `link:` one of logit, probit, "
                   "cloglog, loglog, cauchit) and no family")


def _issues(text: str):
    with pytest.raises(ConfigError) as ei:
        loads(text)
    return ei.value.issues
