"""The schema of a fit config: the one description that validation and docs/configs.md share.

Each :class:`Field` has a type (a :class:`Kind`, which checks a value and says what it
expects), whether it is required, its default and a description. Checks that need more than
the value's type (plugin names in the registry, formulas against the allow-list, data files
on disk, links allowed for a family) are :class:`Field` ``check`` functions, run only on
values of the right type. :func:`render_markdown` prints the tables of docs/configs.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlace.config.messages import show, suggest
from interlace.integrators import default_integrator
from interlace.optimizers import DEFAULT as DEFAULT_OPTIMIZER

MISSING = object()

Problem = tuple[tuple, str]  # (key path relative to the fit, message)


# -- kinds --------------------------------------------------------------------------------
class Kind:
    """A value's type: ``expected`` says it in words; ``check`` lists problems."""

    expected = "a value"

    def check(self, value: Any, path: tuple) -> list[Problem]:
        return []


class String(Kind):
    expected = "a non-empty string"

    def check(self, value, path):
        if not isinstance(value, str) or not value.strip():
            return [(path, f"got {show(value)}; expected {self.expected}")]
        return []


class Choice(Kind):
    def __init__(self, *values: str) -> None:
        self.values = values
        self.expected = "one of " + ", ".join(f"`{v}`" for v in values)

    def check(self, value, path):
        if value not in self.values:
            return [(path, f"got {show(value)}; expected {self.expected.replace('`', '')}"
                           f"{suggest(value, self.values)}")]
        return []


class Integer(Kind):
    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi
        rng = (f" from {lo} to {hi}" if lo is not None and hi is not None
               else f" >= {lo}" if lo is not None else "")
        self.expected = f"an integer{rng}"

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            return [(path, f"got {show(value)}; expected {self.expected}")]
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            return [(path, f"got {value}; expected {self.expected}")]
        return []


class Boolean(Kind):
    expected = "true or false"

    def check(self, value, path):
        if not isinstance(value, bool):
            return [(path, f"got {show(value)}; expected {self.expected}")]
        return []


class StringOrList(Kind):
    expected = "a string or a list of strings"

    def check(self, value, path):
        if isinstance(value, str) and value.strip():
            return []
        if isinstance(value, list) and value:
            return [(path + (i,), f"got {show(v)}; expected a non-empty string")
                    for i, v in enumerate(value) if not isinstance(v, str) or not v.strip()]
        return [(path, f"got {show(value)}; expected {self.expected} (not empty)")]


class ListOf(Kind):
    def __init__(self, item: Kind) -> None:
        self.item = item
        self.expected = f"a list of {item.expected.removeprefix('a ').removeprefix('an ')}s"

    def check(self, value, path):
        if not isinstance(value, list):
            return [(path, f"got {show(value)}; expected {self.expected}")]
        out = []
        for i, v in enumerate(value):
            out += self.item.check(v, path + (i,))
        return out


class MapOf(Kind):
    """A mapping with free string keys and values of one kind."""

    def __init__(self, value: Kind, expected: str) -> None:
        self.value, self.expected = value, expected

    def check(self, value, path):
        if not isinstance(value, dict):
            return [(path, f"got {show(value)}; expected {self.expected}")]
        out = []
        for k, v in value.items():
            out += self.value.check(v, path + (k,))
        return out


class Scalar(Kind):
    """A number, string or boolean (``nullable``: or null); ``listed``: or a list of them."""

    def __init__(self, numbers_only: bool = False, nullable: bool = False, listed: bool = False,
                 positive: bool = False) -> None:
        self.numbers_only, self.nullable, self.listed = numbers_only, nullable, listed
        self.positive = positive
        base = "a positive number" if positive else "a number" if numbers_only else \
            "a number, string or boolean"
        self.expected = base + (" or null" if nullable else "") + (" (or a list of them)" if listed else "")

    def _one(self, v) -> bool:
        if v is None:
            return self.nullable
        if isinstance(v, bool):
            return not self.numbers_only
        if isinstance(v, (int, float)):
            return (v == v and abs(v) != float("inf")) and (not self.positive or v > 0)
        return isinstance(v, str) and not self.numbers_only

    def check(self, value, path):
        if isinstance(value, list) and self.listed and value:
            if all(self._one(v) for v in value):
                return []
        elif self._one(value):
            return []
        return [(path, f"got {show(value)}; expected {self.expected}")]


class Mapping(Kind):
    """A mapping with known keys: unknown keys are errors, with the closest key suggested."""

    def __init__(self, fields: list[Field], expected: str = "a mapping",
                 one_of: tuple[str, ...] = ()) -> None:
        self.fields = {f.name: f for f in fields}
        self.expected = expected
        self.one_of = one_of

    def check(self, value, path):
        if not isinstance(value, dict):
            return [(path, f"got {show(value)}; expected {self.expected} with keys "
                           f"{', '.join(self.fields)}")]
        out: list[Problem] = []
        for k, v in value.items():
            f = self.fields.get(k)
            if f is None:
                out.append((path + (k,), f"unknown key {k!r}; expected one of "
                                         f"{', '.join(self.fields)}{suggest(k, self.fields)}"))
                continue
            if v is None and not f.nullable:
                continue  # null: the key is unset and its default applies
            out += f.kind.check(v, path + (k,))
        for f in self.fields.values():
            if f.required and value.get(f.name) is None:
                out.append((path + (f.name,) if path else (f.name,),
                            f"required key {f.name!r} is missing; expected {f.kind.expected}"))
        if self.one_of:
            given = [k for k in self.one_of if value.get(k) is not None]
            if len(given) != 1:
                out.append((path, f"give exactly one of {', '.join(self.one_of)}, got "
                                  f"{', '.join(given) if given else 'none'}"))
        return out


@dataclass
class Field:
    name: str
    kind: Kind
    doc: str
    required: bool = False
    default: Any = MISSING
    default_doc: str = ""  # how the default is shown when it is not a constant
    nullable: bool = False  # null is a value (not "unset")
    check: Callable[[Any, dict, CheckContext], list[Problem]] | None = None


@dataclass
class CheckContext:
    """What semantic checks need: the config's folder, and caches shared across a batch."""

    base_dir: Path
    cache: dict = field(default_factory=dict)  # shared by the fits of a batch
    scratch: dict = field(default_factory=dict)  # this fit only: its data columns, ...


# -- semantic checks ----------------------------------------------------------------------
def _registry_names(kind: str) -> tuple[list[str], dict[str, type]]:
    from interlace.registry import registry

    reg = registry()
    return reg.names(kind), reg.classes(kind)


def plugin_check(kind: str, key: str):
    def check(value, fit, ctx):
        names, table = _registry_names(kind)
        if str(value).lower() in table:
            return []
        return [((key,), f"{value!r} is not a registered {kind}; expected one of "
                         f"{', '.join(names) or '(none registered)'}{suggest(value, table)} "
                         f"(`interlace plugins` lists them)")]
    return check


def _family_class(fit):
    from interlace.registry import registry

    name = fit.get("family") or "binomial"
    if not isinstance(name, str):
        return None
    return registry().classes("family").get(name.lower())


#: the model kinds a config can describe, with the function that fits each
MODELS = {"glmm": "interlace.glmer", "lmm": "interlace.fit", "clmm": "interlace.clmm"}

#: keys that one model kind does not take: an error naming the key, never quietly ignored
NOT_FOR_MODEL = {
    "lmm": ("family", "family_params", "link", "ziformula", "dispformula", "integrator", "nAGQ",
            "threshold"),
    "clmm": ("family", "family_params", "ziformula", "dispformula", "method"),
    "glmm": ("method", "threshold"),
}


def model_of(fit: dict) -> str:
    """The fit's model kind (``glmm`` when ``model`` is unset or not a known kind)."""
    m = fit.get("model")
    return m if m in MODELS else "glmm"


def check_model(value, fit, ctx) -> list[Problem]:
    """Keys given that the model kind ``value`` does not take."""
    if value not in MODELS:
        return []
    out = []
    for key in NOT_FOR_MODEL[value]:
        if fit.get(key) is not None:
            hint = (" (the LMM is gaussian with the identity link; use model: glmm for another "
                    "family)" if value == "lmm" and key in ("family", "link") else
                    " (the cumulative link model's response is the ordered categories; choose "
                    "its `link`)" if value == "clmm" and key == "family" else
                    " (method: REML or ML is for model: lmm)" if key == "method" else
                    " (threshold is for model: clmm)" if key == "threshold" else "")
            out.append(((key,), f"key {key!r} does not apply to model: {value} "
                                f"({MODELS[value]}); remove it{hint}"))
    return out


def check_threshold(value, fit, ctx) -> list[Problem]:
    """``threshold`` in a config without ``model:`` (a GLMM) is an error; with ``model:`` given,
    :func:`check_model` reports it."""
    if fit.get("model") is not None:
        return []
    return [p for p in check_model("glmm", fit, ctx) if p[0] == ("threshold",)]


def check_method(value, fit, ctx) -> list[Problem]:
    """``method`` in a config without ``model:`` (a GLMM) is an error; with ``model:`` given,
    :func:`check_model` reports it."""
    if fit.get("model") is not None:
        return []
    return [p for p in check_model("glmm", fit, ctx) if p[0] == ("method",)]


def for_models(check: Callable, *kinds: str) -> Callable:
    """A check that applies to configs of the model ``kinds`` only (default: glmm); the other
    kinds reject the key (:func:`check_model`) or check it themselves."""
    kinds = kinds or ("glmm",)

    def wrapped(value, fit, ctx):
        return check(value, fit, ctx) if model_of(fit) in kinds else []
    return wrapped


def check_family(value, fit, ctx) -> list[Problem]:
    """A registered family; the ordinal family points to ``model: clmm``."""
    from interlace.glmm.resolve import OTHER_MODEL_KINDS

    entry = OTHER_MODEL_KINDS.get(str(value).lower())
    names, table = _registry_names("family")
    if entry is not None and str(value).lower() not in table:
        return [(("family",), f"{value!r} is not a glmer family: its model is fitted by {entry}(); "
                              f"write `model: clmm` (with `link:` one of {', '.join(clmm_links())}) "
                              f"and no family")]
    return plugin_check("family", "family")(value, fit, ctx)


def clmm_links() -> list[str]:
    """The cumulative links of :func:`interlace.clmm` (the ordinal family's own list)."""
    from interlace.ordinal.family import CUMULATIVE_LINKS

    return list(CUMULATIVE_LINKS)


def check_link(value, fit, ctx):
    if model_of(fit) == "clmm":
        if str(value).lower() in clmm_links():
            return []
        return [(("link",), f"got {show(value)}; expected a cumulative link for model: clmm, one "
                            f"of {', '.join(clmm_links())}{suggest(value, clmm_links())}")]
    if model_of(fit) != "glmm":
        return []  # reported by check_model
    problems = plugin_check("link", "link")(value, fit, ctx)
    if problems:
        return problems
    cls = _family_class(fit)
    from interlace.registry import registry

    canonical = registry().get_class("link", value).name
    allowed = getattr(cls, "links", ()) if cls is not None else ()
    if allowed and canonical not in allowed:
        return [(("link",), f"link {value!r} is not available for family {cls.name!r}; expected "
                           f"one of {', '.join(allowed)}")]
    return []


def check_family_params(value, fit, ctx):
    cls = _family_class(fit)
    if cls is None:
        return []  # the family's own error is reported
    link = fit.get("link")
    try:
        params = cls(link=link).parameters if link else cls().parameters
    except Exception:  # noqa: BLE001 - a bad link is reported on 'link'
        try:
            params = cls().parameters
        except Exception as exc:  # noqa: BLE001
            return [(("family_params",), f"family {cls.name!r} cannot be built: {exc}")]
    out = []
    for k, v in value.items():
        if k not in params:
            out.append((("family_params", k),
                        f"family {cls.name!r} has no parameter {k!r}; expected one of "
                        f"{', '.join(params) or '(none)'}{suggest(k, params)}"))
        elif v is not None and params[k].transform == "log" and not v > 0:
            out.append((("family_params", k), f"got {show(v)}; expected a positive number "
                                              f"(or null to estimate it)"))
    return out


def check_formula(value, fit, ctx):
    from interlace.config.formulas import check_formula as _check

    groups = fit.get("groups") if _ok_strlist(fit.get("groups")) else None
    random = fit.get("random") if _ok_strlist(fit.get("random")) else None
    res = _check(value, groups=groups, random=random)
    ctx.scratch.setdefault("columns_used", set()).update(res.columns)
    return [(("formula",), p) for p in res.problems]


def check_param_formula(key: str):
    """Check of ``ziformula`` / ``dispformula``: one-sided, allowed transforms only."""
    def check(value, fit, ctx):
        from interlace.config.formulas import check_param_formula as _check

        res = _check(value, key)
        ctx.scratch.setdefault("columns_used", set()).update(res.columns)
        return [((key,), p) for p in res.problems]
    return check


def check_ziformula(value, fit, ctx):
    """``ziformula``: its formula, and (model: glmm) that the family can have a zero part,
    glmmTMB's way (``poisson`` with ``~1`` is the zero-inflated Poisson; ``gaussian`` cannot
    be zero-inflated)."""
    problems = check_param_formula("ziformula")(value, fit, ctx)
    if problems or model_of(fit) != "glmm":
        return problems
    from interlace.errors import InterlaceError
    from interlace.model.param_formulas import zero_part_family

    _, table = _registry_names("family")
    cls = table.get(str(fit.get("family", "binomial")).lower())
    if cls is None:
        return []  # the family's own check reports it
    try:
        family = cls()
    except Exception:  # noqa: BLE001 - a plugin that needs arguments: the fit will tell
        return []
    try:
        zero_part_family(family, value)
    except InterlaceError as exc:
        return [(("ziformula",), str(exc))]
    return []


def _ok_strlist(v) -> bool:
    return (isinstance(v, str) and bool(v.strip())) or (
        isinstance(v, list) and bool(v) and all(isinstance(x, str) and x.strip() for x in v))


def check_nagq(value, fit, ctx):
    integ = fit.get("integrator")
    if value > 1 and integ is None:
        from interlace.integrators import default_integrator

        quadrature = default_integrator(value)[0]
        names, table = _registry_names("integrator")
        if quadrature not in table:
            return [(("nAGQ",), f"got {value}; nAGQ > 1 needs the integrator {quadrature!r}, "
                                f"which is not registered (registered: {', '.join(names)}); "
                                f"use nAGQ: 1")]
    return []


def check_data(value, fit, ctx):
    from interlace.config.data import check_data_source

    return [(("data",) + sub, msg) for sub, msg in check_data_source(value, ctx)]


def check_optimizer_options(value, fit, ctx):
    return [(("optimizer_options", k), f"option names must be strings, got {show(k)}")
            for k in value if not isinstance(k, str)]


# -- the schema ---------------------------------------------------------------------------
DATA_FIELDS = [
    Field("dataset", String(), "a data set shipped with interlace, e.g. cbpp, seed_counts "
          "(`interlace plugins` lists them)"),
    Field("path", String(), "a CSV, TSV or Parquet file; a relative path is relative to the "
          "folder of the config file that names it"),
    Field("format", Choice("csv", "tsv", "parquet"), "how to read `path`",
          default_doc="from the file suffix"),
    Field("factors", ListOf(String()), "columns read as factors (categoricals of text labels, "
          "numbers in numeric order as R's `factor()`), e.g. a numeric `period` that is a factor in R"),
    Field("where", MapOf(Scalar(listed=True), "a mapping of column names to values"),
          "keep only the rows whose column equals the value (or one of a list of values), "
          "e.g. `{gene: BRCA1}`; compared as text"),
]

OUTPUT_FIELDS = [
    Field("path", String(), "`interlace run` writes the result as JSON here (relative to the "
          "config); `--output` overrides it"),
    Field("random_effects", Boolean(), "include the conditional modes (BLUPs) in the JSON "
          "result and batch JSON lines", default=False),
    Field("summary", Boolean(), "`interlace run` prints the lme4-style summary", default=True),
]

FIT_FIELDS = [
    Field("name", String(), "the fit's name in results", default_doc="the file name without "
          "suffix; `stem[i]` for the i-th fit of a list"),
    Field("description", String(), "free text, copied to the results"),
    Field("extends", String(), "a config file (relative to this one) whose keys this fit "
          "starts from; see *Defaults and extends*"),
    Field("data", Mapping(DATA_FIELDS, "a mapping with `dataset` or `path`",
                          one_of=("dataset", "path")),
          "where the data come from: exactly one of `data.dataset` and `data.path`",
          required=True, check=check_data),
    Field("model", Choice(*MODELS), "the model kind: `glmm` (interlace.glmer), `lmm` (a linear "
          "mixed model, interlace.fit, as lme4's lmer) or `clmm` (a cumulative link mixed model for "
          "an ordered response, interlace.clmm, as ordinal's clmm); a key the kind does not take "
          "is an error", default="glmm", check=check_model),
    Field("method", Choice("REML", "ML"), "model: lmm only: REML (as lmer) or maximum likelihood",
          default_doc="`REML` for model: lmm", check=check_method),
    Field("formula", String(), "lme4-style formula, `y ~ x + (1 | g)`; responses `y`, "
          "`successes / trials`, `cbind(successes, failures)`; only the transforms listed below",
          required=True, check=check_formula),
    Field("family", String(), "a registered family name (`interlace plugins`), e.g. binomial, "
          "poisson, nbinom2, gaussian (model: glmm only)", default="binomial",
          check=for_models(check_family)),
    Field("family_params", MapOf(Scalar(numbers_only=True, nullable=True),
                                 "a mapping of parameter names to numbers"),
          "the family's extra parameters, e.g. `{theta: 2.0}` for nbinom2; a number fixes the "
          "parameter, null estimates it", check=for_models(check_family_params)),
    Field("ziformula", String(), "one-sided formula for the zero-inflation / hurdle "
          "probability (logit scale), e.g. `~ mined`; as in glmmTMB, anything but `~0` gives a "
          "family without a zero part one (`family: poisson` with `ziformula: ~1` is the "
          "zero-inflated Poisson); a family that cannot have one is an error",
          default_doc="`~1` for a family named with its zero part (zipoisson, ...), `~0` "
          "otherwise", check=check_ziformula),
    Field("dispformula", String(), "one-sided formula for the family's dispersion parameter "
          "(log scale), e.g. `~ treatment` (fixed effects only)", default_doc="`~1`",
          check=for_models(check_param_formula("dispformula"))),
    Field("link", String(), "a registered link allowed for the family; for model: clmm a "
          "cumulative link: logit, probit, cloglog, loglog, cauchit (model: lmm takes none)",
          default_doc="the family's default; `logit` for clmm", check=check_link),
    Field("threshold", Choice("flexible", "symmetric", "equidistant"), "model: clmm only: the "
          "thresholds' structure, as ordinal's `threshold`: K-1 free thresholds, thresholds "
          "mirrored about a centre, or equally spaced ones (the last two need 3 or more levels)",
          default_doc="`flexible` for model: clmm", check=check_threshold),
    Field("groups", StringOrList(), "grouping column(s), one random intercept each "
          "(`groups: herd`, `groups: [site, year]`)"),
    Field("random", StringOrList(), "lme4-style random terms (`random: ['(1 | herd)']`)"),
    Field("weights", String(), "name of a numeric column of prior weights (binomial trials "
          "for a `successes / trials` response)"),
    Field("offset", String(), "name of a numeric column added to the linear predictor (for "
          "an expression write `+ offset(log(n))` in the formula)"),
    Field("nAGQ", Integer(1, 100), "quadrature points per random effect: 1 is the Laplace "
          "approximation; > 1 adaptive Gauss-Hermite quadrature (one scalar random effect)",
          default=1, check=for_models(check_nagq, "glmm", "clmm")),
    Field("integrator", String(), "a registered integrator",
          default_doc=f"`{default_integrator(1)[0]}` if nAGQ is 1, else "
                      f"`{default_integrator(2)[0]}` (or the family's own default)",
          check=for_models(plugin_check("integrator", "integrator"), "glmm", "clmm")),
    Field("optimizer", String(), "a registered optimizer, e.g. lbfgsb, bobyqa, nelder-mead",
          default_doc=f"the model's default: `{DEFAULT_OPTIMIZER}` for a GLMM, the LMM's built-in "
                      f"Newton method for a gaussian family with the identity link",
          check=plugin_check("optimizer", "optimizer")),
    Field("optimizer_options", MapOf(Scalar(listed=True), "a mapping of option names to values"),
          "passed to the optimizer as it is (e.g. `{maxiter: 5000}`)",
          check=check_optimizer_options),
    Field("output", Mapping(OUTPUT_FIELDS, "a mapping"), "what `interlace run` writes"),
]

FIT = Mapping(FIT_FIELDS, "a mapping describing one fit")

FILE_FIELDS = [
    Field("fits", ListOf(Kind()), "a list of fits (mappings as above), each one record of a "
          "batch", required=True),
    Field("defaults", Kind(), "keys every fit of `fits` starts from (a partial fit; may "
          "`extends`)"),
]

#: keys excluded from a fit's content hash: they change what is printed or where, not the fit
HASH_EXCLUDED = (("output", "path"), ("output", "summary"), ("extends",))


def fields_flat(mapping: Mapping = FIT, prefix: str = ""):
    """(dotted key, Field) for every field, nested mappings after their parent."""
    for f in mapping.fields.values():
        yield prefix + f.name, f
        if isinstance(f.kind, Mapping):
            yield from fields_flat(f.kind, prefix + f.name + ".")


def _default_text(f: Field) -> str:
    if f.default_doc:
        return f.default_doc
    if f.default is MISSING:
        return ""
    if isinstance(f.default, bool):
        return f"`{str(f.default).lower()}`"
    return f"`{f.default}`"


def render_markdown() -> str:
    """The schema as Markdown tables (the generated part of docs/configs.md)."""
    from interlace.config.formulas import ALLOWED_FUNCTIONS

    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["### Keys of a fit", "",
             "| key | type | required | default | description |",
             "|---|---|---|---|---|"]
    for key, f in fields_flat():
        req = "yes" if f.required else ""
        lines.append(f"| `{key}` | {esc(f.kind.expected)} | {req} | {esc(_default_text(f))} | "
                     f"{esc(f.doc)} |")
    lines += ["", "### Keys of a file holding several fits", "",
              "| key | type | required | description |", "|---|---|---|---|"]
    for f in FILE_FIELDS:
        kind = "a list of mappings" if f.name == "fits" else "a mapping"
        lines.append(f"| `{f.name}` | {kind} | {'yes' if f.required else ''} | {esc(f.doc)} |")
    lines += ["", "### Functions allowed in formulas", "", "| function | what it does |",
              "|---|---|"]
    for name, doc in ALLOWED_FUNCTIONS.items():
        lines.append(f"| `{name}` | {esc(doc)} |")
    return "\n".join(lines) + "\n"
