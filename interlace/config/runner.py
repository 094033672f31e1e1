"""Running a validated fit: the glmer call it describes, its JSON result, its batch record."""

from __future__ import annotations

import hashlib
import math
import os
import socket
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interlace.config.data import load_data
from interlace.config.formulas import core_formula
from interlace.errors import InterlaceError

RECORD_VERSION = 1
STATUSES = ("ok", "warning", "error")


def glmer_kwargs(config: dict, data: pd.DataFrame) -> dict:
    """Keyword arguments of :func:`interlace.glmer` for a resolved config."""
    from interlace.registry import registry

    kw: dict[str, Any] = {"formula": core_formula(config["formula"]), "data": data}
    family = config.get("family", "binomial")
    params = {k: v for k, v in (config.get("family_params") or {}).items() if v is not None}
    if params:
        cls = registry().get_class("family", family)
        kw["family"] = cls(link=config.get("link"), **params)
    else:
        kw["family"] = family
        if config.get("link"):
            kw["link"] = config["link"]
    for key in ("groups", "random", "weights", "offset", "integrator", "optimizer_options",
                "ziformula", "dispformula"):
        if config.get(key) is not None:
            kw[key] = config[key]
    # no optimizer: glmer's optimizer=None, the model kind's default (see model_optimizer)
    kw["optimizer"] = config.get("optimizer") or None
    kw["nAGQ"] = int(config.get("nAGQ", 1))
    return kw


def fit_kwargs(config: dict, data: pd.DataFrame) -> dict:
    """Keyword arguments of :func:`interlace.fit` (model: lmm) for a resolved config."""
    kw: dict[str, Any] = {"formula": core_formula(config["formula"]), "data": data,
                          "method": config.get("method") or "REML"}
    for key in ("groups", "random", "weights", "offset", "optimizer_options"):
        if config.get(key) is not None:
            kw[key] = config[key]
    kw["optimizer"] = config.get("optimizer") or None
    return kw


def clmm_kwargs(config: dict, data: pd.DataFrame) -> dict:
    """Keyword arguments of :func:`interlace.clmm` (model: clmm) for a resolved config."""
    kw: dict[str, Any] = {"formula": core_formula(config["formula"]), "data": data,
                          "link": config.get("link") or "logit",
                          "threshold": config.get("threshold") or "flexible"}
    for key in ("groups", "random", "weights", "offset", "integrator", "optimizer_options"):
        if config.get(key) is not None:
            kw[key] = config[key]
    kw["optimizer"] = config.get("optimizer") or None
    kw["nAGQ"] = int(config.get("nAGQ", 1))
    return kw


#: model kind -> (function name in ``interlace``, its keyword arguments from a config)
MODEL_CALLS = {"glmm": ("glmer", glmer_kwargs), "lmm": ("fit", fit_kwargs),
               "clmm": ("clmm", clmm_kwargs)}


def model_call(config: dict, data: pd.DataFrame):
    """The fitting function of the config's model kind and its keyword arguments."""
    import interlace

    name, kwargs = MODEL_CALLS[config.get("model") or "glmm"]
    return getattr(interlace, name), kwargs(config, data)


def model_optimizer(config: dict) -> str | None:
    """The optimizer :func:`interlace.glmer` uses for a config that names none: None (the
    LMM's built-in Newton method) when glmer fits the model by the LMM path (a Gaussian
    family with the identity link, see :func:`interlace.glmm.is_linear_mixed`), else the
    GLMM default :func:`interlace.optimizers.default_optimizer`."""
    from interlace.glmm import is_linear_mixed
    from interlace.optimizers import default_optimizer
    from interlace.registry import registry

    try:
        cls = registry().get_class("family", config.get("family", "binomial"))
        params = {k: v for k, v in (config.get("family_params") or {}).items() if v is not None}
        family = cls(link=config.get("link"), **params)
    except (InterlaceError, TypeError, ValueError):  # reported by validation, not here
        return default_optimizer()
    if is_linear_mixed(family, config.get("integrator"), config.get("ziformula"),
                       config.get("dispformula")):
        return None
    return default_optimizer()


def fit_config(config: dict, data: pd.DataFrame | None = None, base_dir: str | Path = "."):
    """Fit the model a resolved config describes (on ``data`` if given, else its own data):
    :func:`interlace.glmer`, :func:`interlace.fit` or :func:`interlace.clmm` by its ``model``."""
    if data is None:
        data = load_data(config["data"], base_dir)
    func, kwargs = model_call(config, data)
    return func(**kwargs)


def _num(x: Any) -> Any:
    """Plain JSON value: numpy scalars unwrapped, NaN and infinities as null."""
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def clean(obj: Any) -> Any:
    """Recursively make ``obj`` JSON-safe."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [clean(v) for v in obj.tolist()]
    if obj is None or (isinstance(obj, float) and math.isnan(obj)):
        return None
    return _num(obj)


def result_payload(result, random_effects: bool = False) -> dict:
    """Estimates, standard errors, variance components, fit statistics and convergence
    diagnostics of a fit, as JSON-safe data."""
    fe = {}
    for term in result.fe_params.index:
        fe[str(term)] = {"estimate": result.fe_params[term], "std_error": result.fe_bse[term],
                         "z_value": result.fe_zvalues[term], "p_value": result.fe_pvalues[term]}
    vc = []
    for _, r in result.varcorr.iterrows():
        vc.append({"group": r["grp"], "var1": r["var1"] if isinstance(r["var1"], str) else None,
                   "var2": r["var2"] if isinstance(r["var2"], str) else None,
                   "vcov": r["vcov"], "sdcor": r["sdcor"]})
    out = {
        "model": {"kind": model_kind(result), "formula": result.formula,
                  "family": result.family.name, "link": result.link.name, "nAGQ": result.nAGQ,
                  "integrator": result.integrator, "optimizer": result.optimizer},
        "nobs": result.nobs,
        "ngroups": dict(result.ngroups),
        "fixed_effects": fe,
        "vcov": {"terms": [str(t) for t in result.vcov.index],
                 "matrix": result.vcov.to_numpy().tolist()},
        "variance_components": vc,
        "theta": list(np.asarray(result.theta, float)),
        "family_params": {k: v for k, v in result.family_params.items() if np.ndim(v) == 0},
        "family_coefficients": {
            name: {str(c): {"estimate": r["Estimate"], "std_error": r["Std. Error"]}
                   for c, r in table.iterrows()}
            for name, table in getattr(result, "family_coefs", {}).items()},
        "fit": {"llf": result.llf, "aic": result.aic, "bic": result.bic,
                "deviance": result.deviance, "df_resid": result.df_resid,
                "reml_criterion": getattr(result, "reml_criterion", None)},
        "convergence": {"converged": result.converged, "max_grad": result.max_grad,
                        "singular": result.singular, "messages": list(result.messages),
                        "optimizer_message": str(getattr(result, "optimizer_message", "")),
                        "evaluations": getattr(result, "evaluations", None),
                        "gradient": {str(k): v for k, v in result.gradient.items()}},
    }
    out.update(kind_payload(result))
    if random_effects:
        out["random_effects"] = {
            str(g): {"levels": [str(i) for i in df.index], "columns": [str(c) for c in df.columns],
                     "values": df.to_numpy().tolist()}
            for g, df in result.random_effects.items()}
    return clean(out)


def model_kind(result) -> str:
    """``lmm``, ``clmm`` or ``glmm``: the kind of model a result is of (by what it carries)."""
    if getattr(result, "thresholds", None) is not None:
        return "clmm"
    if getattr(result, "method", None) in ("REML", "ML"):
        return "lmm"
    return "glmm"


def kind_payload(result) -> dict:
    """What one model kind adds to the payload: the LMM's ``method``; the CLMM's ``thresholds``
    (a table like ``fixed_effects``)."""
    kind = model_kind(result)
    if kind == "lmm":
        return {"method": result.method}
    if kind == "clmm":
        out = {"threshold": result.threshold,
               "thresholds": _table(result.thresholds, result.threshold_bse,
                                    result.threshold_zvalues)}
        if result.threshold != "flexible":  # ordinal's threshold coefficients (alpha)
            out["threshold_coefficients"] = _table(result.threshold_coefs,
                                                   result.threshold_coef_bse,
                                                   result.threshold_coef_zvalues)
        return out
    return {}


def _table(est, se, z) -> dict:
    """A threshold table as ``fixed_effects`` is written: estimate, SE and z per name."""
    return {str(t): {"estimate": est[t], "std_error": se.get(t), "z_value": z.get(t)}
            for t in est.index}


def status_of(result) -> tuple[str, str]:
    msgs = "; ".join(result.messages)
    return ("ok" if result.converged else "warning"), msgs


def run_fit(spec) -> dict:
    """Fit one :class:`~interlace.config.loader.FitSpec` and return its record. Never raises
    for a problem of the fit: a failure becomes an ``error`` record with the message."""
    t0 = time.perf_counter()
    rec: dict[str, Any] = {"name": spec.name, "key": spec.key, "source": spec.source,
                           "status": "error", "message": "", "error_type": None,
                           "warnings": [], "elapsed_s": None, "attempts": 1,
                           "worker": f"{socket.gethostname()}:{os.getpid()}",
                           "record_version": RECORD_VERSION, "config": spec.config,
                           "result": None}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fit_config(spec.config, base_dir=spec.base_dir)
        seen = []
        for w in caught:
            text = f"{w.category.__name__}: {w.message}"
            if text not in seen:
                seen.append(text)
        rec["warnings"] = seen
        want_re = bool((spec.config.get("output") or {}).get("random_effects", False))
        rec["result"] = result_payload(result, random_effects=want_re)
        rec["status"], rec["message"] = status_of(result)
    except Exception as exc:  # noqa: BLE001 - every failure is a record, none stops a batch
        rec["status"] = "error"
        rec["error_type"] = type(exc).__name__
        rec["message"] = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, InterlaceError):
            rec["traceback"] = "".join(traceback.format_exc().splitlines(True)[-12:])
    rec["elapsed_s"] = round(time.perf_counter() - t0, 6)
    return clean(rec)


def failure_record(spec, message: str, error_type: str, attempts: int) -> dict:
    """The record of a fit that never returned (its worker died, or it timed out)."""
    return {"name": spec.name, "key": spec.key, "source": spec.source, "status": "error",
            "message": message, "error_type": error_type, "warnings": [], "elapsed_s": None,
            "attempts": attempts, "worker": None, "record_version": RECORD_VERSION,
            "config": spec.config, "result": None}


def invalid_record(source: str, name: str, issues: list) -> dict:
    """The record of a config that does not validate, for ``interlace batch --keep-going``:
    the format of :func:`failure_record` (``status`` error, ``error_type`` ConfigError, no
    config and no result), ``attempts`` 0, and ``issues``, each problem's ``file``, ``line``,
    key ``path`` and ``message``. ``issues`` are
    :class:`~interlace.config.loader.ConfigIssue`; ``message`` quotes them all, as
    ``file:line: key: problem``. The key hashes the source and the problems, so a rerun with
    the same problems adds no record, and a fixed config runs under its own content key."""
    text = "; ".join(str(i) for i in issues)
    n = len(issues)
    message = f"the config does not validate ({n} problem{'s' if n != 1 else ''}): {text}"
    key = hashlib.sha256(f"invalid config\n{source}\n{text}".encode()).hexdigest()[:20]
    return {"name": name, "key": key, "source": source, "status": "error", "message": message,
            "error_type": "ConfigError", "warnings": [], "elapsed_s": None, "attempts": 0,
            "worker": None, "record_version": RECORD_VERSION, "config": None, "result": None,
            "issues": [{"file": i.file, "line": i.line, "path": i.path, "message": i.message}
                       for i in issues]}


TABLE_FIRST = ["name", "status", "message", "error_type", "key", "source", "model", "method",
               "family", "link", "formula", "nAGQ", "integrator", "optimizer", "nobs", "llf",
               "aic", "bic", "deviance", "reml_criterion", "converged", "singular", "max_grad",
               "elapsed_s", "attempts"]


def flatten(rec: dict) -> dict:
    """One row of the results table: identity, status, statistics, then ``fe:``/``se:``
    (fixed effects, standard errors), ``var:``/``sd:``/``cov:``/``cor:`` (variance
    components) and ``fp:`` (family parameters) columns."""
    row: dict[str, Any] = {k: rec.get(k) for k in ("name", "status", "message", "error_type",
                                                     "key", "source", "elapsed_s", "attempts")}
    cfg = rec.get("config") or {}
    row["formula"] = cfg.get("formula")
    res = rec.get("result")
    row["model"] = cfg.get("model", "glmm")
    if not res:
        row["family"] = cfg.get("family", "binomial")
        return row
    m = res["model"]
    row.update(model=m.get("kind", row["model"]), method=res.get("method"),
               reml_criterion=res["fit"].get("reml_criterion"))
    row.update(family=m["family"], link=m["link"], formula=m["formula"], nAGQ=m["nAGQ"],
               integrator=m["integrator"], optimizer=m["optimizer"], nobs=res["nobs"])
    row.update({k: res["fit"][k] for k in ("llf", "aic", "bic", "deviance")})
    conv = res["convergence"]
    row.update(converged=conv["converged"], singular=conv["singular"], max_grad=conv["max_grad"])
    for term, v in res["fixed_effects"].items():
        row[f"fe:{term}"] = v["estimate"]
    for term, v in res["fixed_effects"].items():
        row[f"se:{term}"] = v["std_error"]
    for term, v in (res.get("thresholds") or {}).items():
        row[f"th:{term}"] = v["estimate"]
    for v in res["variance_components"]:
        if v["var2"] is None:
            label = v["group"] + (f":{v['var1']}" if v["var1"] else "")
            row[f"var:{label}"] = v["vcov"]
            row[f"sd:{label}"] = v["sdcor"]
        else:
            label = f"{v['group']}:{v['var1']}:{v['var2']}"
            row[f"cov:{label}"] = v["vcov"]
            row[f"cor:{label}"] = v["sdcor"]
    for k, v in res["family_params"].items():
        row[f"fp:{k}"] = v
    return row
