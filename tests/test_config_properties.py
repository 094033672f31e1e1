"""Property tests over configs (hypothesis).

For every config in configs/ and for generated ones: it validates, round-trips (load -> dump
-> load gives the same fit and the same content hash) and the fit it describes obeys laws
that must hold: data simulated from the fitted model and refitted give estimates within a few
standard errors; permuting rows or relabelling group levels changes nothing; rescaling a
covariate rescales its coefficient; a Gaussian GLMM equals the linear mixed model fitted by
maximum likelihood. Random mutations of valid configs either validate or fail with
ConfigError and a message naming the key, never with another exception.
"""

from __future__ import annotations

import copy
import json
import string
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from interlace.config import ConfigError, fit_config, load, load_data, loads, run_fit
from interlace.config.schema import fields_flat
from interlace.model.formula import parse_formula
from interlace.registry import registry

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
SHIPPED = {s.name: s for s in load([CONFIGS])}
DOCUMENTED_ERRORS = {"InterlaceError", "DataError", "FormulaError", "PluginError",
                     "UnsupportedModelError", "ConfigError"}
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture])


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)


# -- generated valid configs --------------------------------------------------------------
@st.composite
def fit_configs(draw) -> dict:
    kind = draw(st.sampled_from(["cbpp", "counts", "sleep"]))
    cfg: dict = {}
    if kind == "cbpp":
        cfg["data"] = {"dataset": "cbpp"}
        response = draw(st.sampled_from(["incidence / size", "cbind(incidence, size - incidence)"]))
        fixed = draw(st.sampled_from(["period", "C(period)", "1", "C(period, Sum)"]))
        cfg["family"] = draw(st.sampled_from(["binomial", "bernoulli"]))
        cfg["link"] = draw(st.sampled_from(["logit", "probit", "cloglog"]))
        if response.startswith("incidence /"):
            cfg["weights"] = "size"
        group, form = "herd", draw(st.sampled_from(["groups", "random", "formula"]))
        scalar = True
    elif kind == "counts":
        cfg["data"] = {"dataset": "seed_counts"}
        response = "count"
        terms = draw(st.lists(st.sampled_from(["x1", "x2", "log(x1 + 5)", "scale(x1)",
                                               "I(x1 ** 2)", "center(x2)", "C(x2)",
                                               "exp(x1 / 4)", "sqrt(x1 + 4)"]),
                              min_size=1, max_size=3, unique=True))
        fixed = " + ".join(terms)
        fam = draw(st.sampled_from(["poisson", "nbinom2"]))
        cfg["family"] = fam
        if fam == "nbinom2":
            cfg["family_params"] = {"theta": draw(st.sampled_from([1.0, 2, 5.5]))}
        else:
            cfg["link"] = draw(st.sampled_from(["log", "sqrt"]))
        crossed = draw(st.booleans())
        group = ["site", "year"] if crossed else "site"
        form = draw(st.sampled_from(["groups", "random", "formula"]))
        scalar = not crossed
    else:
        cfg["data"] = {"dataset": "sleepstudy"}
        response, fixed = "Reaction", draw(st.sampled_from(["Days", "1 + Days", "scale(Days)"]))
        cfg["family"] = "gaussian"
        slope = draw(st.sampled_from(["1", "Days", "Days ||"]))
        group, form, scalar = "Subject", "slope" if slope != "1" else "groups", slope == "1"
        if slope != "1":
            bar = "||" if slope.endswith("||") else "|"
            cfg["formula"] = f"{response} ~ {fixed} + (1 + Days {bar} Subject)"
    if "formula" not in cfg:
        groups = group if isinstance(group, list) else [group]
        if form == "groups":
            cfg["formula"] = f"{response} ~ {fixed}"
            cfg["groups"] = group
        elif form == "random":
            cfg["formula"] = f"{response} ~ {fixed}"
            cfg["random"] = [f"(1 | {g})" for g in groups]
        else:
            cfg["formula"] = f"{response} ~ {fixed} + " + " + ".join(f"(1 | {g})" for g in groups)
    cfg["optimizer"] = draw(st.sampled_from(["lbfgsb", "bobyqa", "nelder-mead"]))
    if scalar and kind != "sleep" and draw(st.booleans()):
        cfg["nAGQ"] = draw(st.sampled_from([1, 3, 9]))
    if draw(st.booleans()):
        cfg["name"] = draw(st.text(string.ascii_letters + "_-", min_size=1, max_size=12))
    if draw(st.booleans()):
        cfg["description"] = draw(st.text(min_size=1, max_size=30).filter(str.strip))
    keys = list(cfg)
    order = draw(st.permutations(keys))
    return {k: cfg[k] for k in order}


def one(cfg: dict):
    (spec,) = loads(dump(cfg), base_dir=CONFIGS)
    return spec


# -- validation and round trips -----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_configs_round_trip(name):
    spec = SHIPPED[name]
    (again,) = loads(spec.to_yaml())
    assert again.config == spec.config and again.key == spec.key
    (third,) = loads(again.to_yaml())
    assert third.to_yaml() == spec.to_yaml()


@settings(max_examples=60, **SETTINGS)
@given(fit_configs())
def test_generated_configs_validate_and_round_trip(cfg):
    spec = one(cfg)
    (again,) = loads(spec.to_yaml())
    assert again.config == spec.config and again.key == spec.key
    # the same fit spelled differently hashes the same: keys reordered, defaults explicit
    spelled = dict(reversed(list(cfg.items())))
    spelled.setdefault("nAGQ", 1)
    spelled.setdefault("optimizer", "lbfgsb")
    assert one(spelled).key == spec.key


@settings(max_examples=20, **SETTINGS)
@given(fit_configs())
def test_generated_configs_fit_or_fail_with_a_documented_error(cfg):
    rec = run_fit(one(cfg))
    json.dumps(rec, allow_nan=False)
    assert rec["status"] in ("ok", "warning", "error")
    if rec["status"] == "error":
        assert rec["error_type"] in DOCUMENTED_ERRORS, rec.get("traceback", rec["message"])
        assert rec["message"]
    else:
        res = rec["result"]
        assert np.isfinite(res["fit"]["llf"])
        assert all(np.isfinite(v["estimate"]) for v in res["fixed_effects"].values())


# -- mutations ----------------------------------------------------------------------------
BASES = [SHIPPED["cbpp_binomial"].config, SHIPPED["counts_nbinom2"].config,
         SHIPPED["counts_poisson_crossed"].config]
KNOWN_KEYS = {k.split(".")[-1] for k, _ in fields_flat()}
WRONG_TYPES = {
    "name": [3, [], {"a": 1}, True], "description": [1.5, ["x"]], "formula": [1, ["y ~ x"], {}],
    "family": [1, ["binomial"], {"name": "binomial"}], "link": [2, ["logit"]],
    "groups": [{"herd": 1}, 3, [], [1]], "random": [{}, 2, [None]], "weights": [1, ["size"]],
    "offset": [1.5, {}], "nAGQ": ["25", 0, 101, 2.5, True, -1], "integrator": [1, ["laplace"]],
    "optimizer": [0, {"bobyqa": 1}], "optimizer_options": [[1], "maxiter", 3],
    "family_params": [[2.0], "theta", 2.0], "data": ["cbpp", ["cbpp"], 1, {}],
    "output": ["x.json", [1], {"path": 1}, {"summary": "yes"}],
}
FORBIDDEN_TERMS = ["{x1}", "np.log(x1)", "__import__('os')", "eval('1')", "I(x1.real)",
                   "I(x1[0])", "open('x')", "I((lambda: 1)())", "I(getattr(x1, 'real'))",
                   "I([a for a in x1])", "exec('1')"]


def mentions(err: ConfigError, key: str) -> bool:
    return any(key in i.path.split(".")[-1] or key in i.path or key in i.message
               for i in err.issues)


def rejected(cfg: dict) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        loads(dump(cfg), base_dir=CONFIGS)
    for i in ei.value.issues:
        assert i.message and "Traceback" not in i.message
    return ei.value


@settings(max_examples=80, **SETTINGS)
@given(base=st.sampled_from(BASES), key=st.text(string.ascii_letters + "_", min_size=1,
                                                 max_size=14), data=st.data())
def test_unknown_keys_are_rejected_naming_the_key(base, key, data):
    assume(key not in KNOWN_KEYS and key != "fits")
    cfg = copy.deepcopy(base)
    where = data.draw(st.sampled_from(["", "data", "output"]))
    if where:
        cfg.setdefault(where, {})[key] = 1
    else:
        cfg[key] = data.draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
    err = rejected(cfg)
    assert any(i.path.endswith(key) and "unknown key" in i.message for i in err.issues)


@settings(max_examples=80, **SETTINGS)
@given(base=st.sampled_from(BASES), data=st.data())
def test_wrong_types_are_rejected_naming_the_key(base, data):
    key = data.draw(st.sampled_from(sorted(WRONG_TYPES)))
    value = data.draw(st.sampled_from(WRONG_TYPES[key]))
    cfg = copy.deepcopy(base)
    cfg[key] = value
    err = rejected(cfg)
    assert any(i.path.split(".")[0].split("[")[0] == key for i in err.issues), err


@settings(max_examples=60, **SETTINGS)
@given(base=st.sampled_from(BASES), kind=st.sampled_from(["family", "link", "optimizer",
                                                          "integrator"]),
       word=st.text(string.ascii_lowercase + "-_", min_size=1, max_size=10))
def test_unregistered_plugin_names_are_rejected(base, kind, word):
    assume(word not in registry().classes(kind))
    cfg = copy.deepcopy(base)
    cfg[kind] = word
    err = rejected(cfg)
    assert any(i.path == kind and "not a registered" in i.message for i in err.issues)


@settings(max_examples=40, **SETTINGS)
@given(base=st.sampled_from(BASES), term=st.sampled_from(FORBIDDEN_TERMS),
       where=st.sampled_from(["fixed", "response", "offset", "random"]))
def test_code_in_formulas_is_always_rejected(base, term, where):
    cfg = copy.deepcopy(base)
    lhs, rhs = cfg["formula"].split("~")
    if where == "fixed":
        cfg["formula"] = f"{lhs}~ {rhs} + {term}"
    elif where == "response":
        cfg["formula"] = f"{term} ~ {rhs}"
    elif where == "offset":
        cfg["formula"] = f"{lhs}~ {rhs} + offset({term})"
    else:
        cfg["formula"] = f"{lhs}~ {rhs} + ({term} | herd)"
    err = rejected(cfg)
    assert any(i.path == "formula" for i in err.issues)


@settings(max_examples=40, **SETTINGS)
@given(base=st.sampled_from(BASES), data=st.data())
def test_dropping_a_required_key_is_rejected(base, data):
    key = data.draw(st.sampled_from(["data", "formula"]))
    cfg = {k: v for k, v in base.items() if k != key}
    err = rejected(cfg)
    assert any(i.path == key and "required" in i.message for i in err.issues)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.floats(allow_nan=True),
              st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def _paths(cfg, prefix=()):
    for k, v in cfg.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))


@settings(max_examples=150, **SETTINGS)
@given(base=st.sampled_from(BASES), value=json_values, data=st.data())
def test_random_mutations_validate_or_fail_with_config_error(base, value, data):
    cfg = copy.deepcopy(base)
    path = data.draw(st.sampled_from(list(_paths(cfg)) + [("new_key",)]))
    node = cfg
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    try:
        text = dump(cfg)
    except yaml.YAMLError:
        return
    try:
        specs = loads(text, base_dir=CONFIGS)
    except ConfigError as err:
        assert err.issues and all(i.message for i in err.issues)
        return
    assert len(specs) == 1  # it validated: the mutation was harmless (e.g. a new description)


@settings(max_examples=150, **SETTINGS)
@given(st.text(max_size=200))
def test_any_text_is_a_config_or_a_config_error(text):
    try:
        loads(text, base_dir=CONFIGS)
    except ConfigError as err:
        assert err.issues


# -- laws of the fits the configs describe ------------------------------------------------
def _fit(spec, data=None):
    return fit_config(spec.config, data=data, base_dir=spec.base_dir)


def _group_columns(cfg: dict) -> list[str]:
    p = parse_formula(cfg["formula"], groups=cfg.get("groups"), random=cfg.get("random"))
    return sorted({v for spec in p.random for v in spec.group_vars})


def assert_same_fit(a, b, rel=2e-4):
    assert a.llf == pytest.approx(b.llf, abs=1e-6)
    np.testing.assert_allclose(a.fe_params.to_numpy(), b.fe_params.to_numpy(), rtol=rel,
                               atol=1e-6)
    np.testing.assert_allclose(a.fe_bse.to_numpy(), b.fe_bse.to_numpy(), rtol=1e-3)
    va = np.asarray(a.varcorr["vcov"], float)
    vb = np.asarray(b.varcorr["vcov"], float)
    np.testing.assert_allclose(va, vb, rtol=2e-3, atol=1e-6)


REF_FITS: dict = {}


def reference_fit(name):
    if name not in REF_FITS:
        REF_FITS[name] = _fit(SHIPPED[name])
    return REF_FITS[name]


@settings(max_examples=10, **SETTINGS)
@given(name=st.sampled_from(sorted(SHIPPED)), seed=st.integers(0, 2**32 - 1))
def test_permuting_rows_changes_nothing(name, seed):
    spec = SHIPPED[name]
    df = load_data(spec.config["data"], spec.base_dir)
    perm = np.random.default_rng(seed).permutation(len(df))
    assert_same_fit(_fit(spec, df.iloc[perm].reset_index(drop=True)), reference_fit(name))


@settings(max_examples=10, **SETTINGS)
@given(name=st.sampled_from(sorted(SHIPPED)), seed=st.integers(0, 2**32 - 1),
       prefix=st.text(string.ascii_letters, min_size=1, max_size=4))
def test_relabelling_group_levels_changes_nothing(name, seed, prefix):
    spec = SHIPPED[name]
    df = load_data(spec.config["data"], spec.base_dir).copy()
    rng = np.random.default_rng(seed)
    for col in _group_columns(spec.config):
        levels = sorted(df[col].astype(str).unique())
        new = [f"{prefix}{i}" for i in rng.permutation(len(levels))]
        df[col] = df[col].astype(str).map(dict(zip(levels, new)))
    assert_same_fit(_fit(spec, df), reference_fit(name))


@settings(max_examples=10, **SETTINGS)
@given(name=st.sampled_from(["counts_poisson_crossed", "counts_nbinom2", "counts_poisson_site"]),
       factor=st.sampled_from([0.01, 0.5, 3.0, 250.0]), col=st.sampled_from(["x1", "x2"]))
def test_rescaling_a_covariate_rescales_its_coefficient(name, factor, col):
    spec = SHIPPED[name]
    df = load_data(spec.config["data"], spec.base_dir).copy()
    df[col] = df[col] * factor
    a, b = _fit(spec, df), reference_fit(name)
    assert a.llf == pytest.approx(b.llf, abs=1e-5)
    assert a.fe_params[col] * factor == pytest.approx(b.fe_params[col], rel=1e-3)
    assert a.fe_bse[col] * factor == pytest.approx(b.fe_bse[col], rel=1e-3)
    others = [t for t in b.fe_params.index if t != col]
    np.testing.assert_allclose(a.fe_params[others], b.fe_params[others], rtol=1e-3, atol=1e-6)


def _with_response(cfg: dict, df, y: np.ndarray, trials: np.ndarray):
    r = parse_formula(cfg["formula"], groups=cfg.get("groups"), random=cfg.get("random")).response
    out = df.copy()
    if r.kind == "simple":
        out[r.exprs[0]] = y
    else:  # successes / trials, cbind(successes, trials - successes): successes change
        out[r.exprs[0]] = np.rint(y * trials)
    return out


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_simulated_data_refit_recover_the_parameters(name):
    """Parametric bootstrap: data simulated from the fitted model, refitted; each fixed effect
    lands within 3 standard errors of the truth about 99.7% of the time."""
    spec = SHIPPED[name]
    df = load_data(spec.config["data"], spec.base_dir)
    truth = reference_fit(name)
    assert truth.nobs == len(df)
    trials = truth.context.design.weights
    sims = truth.simulate(nsim=8, seed=20240611)
    misses = checks = 0
    for y in sims:
        fit = _fit(spec, _with_response(spec.config, df, y, trials))
        z = np.abs(fit.fe_params - truth.fe_params) / fit.fe_bse
        misses += int((z > 3).sum())
        checks += len(z)
    assert misses <= 1 + 0.03 * checks, f"{misses} of {checks} estimates beyond 3 SE"


def _lmm_ml(y, X, Z_blocks):
    """Exact ML of a Gaussian LMM with one grouping factor and a correlated random intercept
    and slope, by the marginal likelihood of each group (dense, independent of interlace)."""
    from scipy.optimize import minimize

    n = len(y)

    def profiled(theta):
        L = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
        A = np.zeros((X.shape[1], X.shape[1]))
        b = np.zeros(X.shape[1])
        logdet = 0.0
        parts = []
        for idx, Zi in Z_blocks:
            W = np.eye(len(idx)) + Zi @ L @ L.T @ Zi.T
            Wi = np.linalg.inv(W)
            logdet += np.linalg.slogdet(W)[1]
            A += X[idx].T @ Wi @ X[idx]
            b += X[idx].T @ Wi @ y[idx]
            parts.append((idx, Wi))
        beta = np.linalg.solve(A, b)
        q = sum(float((y[idx] - X[idx] @ beta) @ Wi @ (y[idx] - X[idx] @ beta))
                for idx, Wi in parts)
        s2 = q / n
        return -(-0.5 * n * (np.log(2 * np.pi * s2) + 1) - 0.5 * logdet), beta

    best = minimize(lambda t: profiled(t)[0], [1.0, 0.0, 0.3], method="Nelder-Mead",
                    options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 20000})
    nll, beta = profiled(best.x)
    return -nll, beta


def test_a_gaussian_glmm_from_a_config_equals_the_lmm_fit_by_ml():
    (spec,) = loads("data: {dataset: sleepstudy}\nformula: Reaction ~ Days + (Days | Subject)\n"
                    "family: gaussian\n")
    rec = run_fit(spec)
    assert rec["status"] == "ok"
    df = load_data(spec.config["data"])
    y = df["Reaction"].to_numpy(float)
    X = np.column_stack([np.ones(len(df)), df["Days"].to_numpy(float)])
    blocks = [(np.flatnonzero(df["Subject"].to_numpy() == s), None)
              for s in df["Subject"].unique()]
    blocks = [(idx, X[idx]) for idx, _ in blocks]
    llf, beta = _lmm_ml(y, X, blocks)
    res = rec["result"]
    assert res["fit"]["llf"] == pytest.approx(llf, abs=1e-5)
    est = [v["estimate"] for v in res["fixed_effects"].values()]
    np.testing.assert_allclose(est, beta, rtol=1e-5)
    assert res["fit"]["llf"] == pytest.approx(-875.9696722444954, abs=1e-5)  # lme4 lmer, ML
    import interlace

    if hasattr(interlace, "fit"):  # interlace's own LMM, by ML
        lmm = interlace.fit("Reaction ~ Days + (Days | Subject)", df, method="ML")
        assert res["fit"]["llf"] == pytest.approx(lmm.llf, abs=1e-5)
        np.testing.assert_allclose(est, lmm.fe_params.to_numpy(), rtol=1e-5)
