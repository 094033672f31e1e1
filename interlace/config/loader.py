"""From config files to validated fits: file forms, ``defaults``/``extends``, validation with
every problem of a batch reported at once, and the content hash that keys batch results.

File forms
    * a mapping: one fit;
    * a list of mappings: several fits;
    * a mapping with ``fits:`` (a list) and optionally ``defaults:`` (a partial fit that every
      fit of the list starts from).

``extends: other.yaml`` (relative to the file that says it) makes a fit start from the fit in
that file, which may itself extend another. Merging: mappings merge key by key, any other
value replaces the inherited one, and ``null`` removes an inherited key (its default then
applies). ``name`` is never inherited. A fit is resolved as defaults (with their own
``extends``) first, then the fit's ``extends`` chain, then the fit's own keys.
"""

from __future__ import annotations

import copy
import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlace.config import schema as sch
from interlace.config.data import column_message, data_format, file_digest, resolve_path
from interlace.config.messages import show, suggest
from interlace.config.yamlio import Mark, YAMLLoadError, dump, format_path, load_file, load_text
from interlace.errors import InterlaceError

YAML_SUFFIXES = (".yaml", ".yml")


# -- errors -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigIssue:
    """One problem: the file and line where the bad value is written, its key path, and a
    message that shows the value and what was expected."""

    file: str
    line: int | None
    path: str
    message: str
    fit: str = ""  # the fit it concerns, when the value was inherited (defaults or extends)
    origin: str = ""  # how it was inherited: "from the file's defaults", "through extends"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.path}:" if self.path else ""
        how = f" {self.origin}" if self.origin else ""
        via = f" (inherited by {self.fit}{how})" if self.fit else ""
        return f"{where}:{key} {self.message}{via}"


class ConfigError(InterlaceError):
    """Configs that do not validate; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        n = len(self.issues)
        head = f"{n} problem{'s' if n != 1 else ''} in the config{'s' if n != 1 else ''}:"
        super().__init__("\n".join([head] + [f"  {i}" for i in self.issues]))


# -- a validated fit ----------------------------------------------------------------------
@dataclass
class FitSpec:
    """A resolved, validated fit: what a batch worker needs (picklable plain data)."""

    name: str
    source: str  # "configs/x.yaml" or "configs/x.yaml#fits[1]"
    config: dict  # merged keys, nulls removed, paths absolute, ``name`` set
    key: str  # content hash: equal keys describe the same fit
    base_dir: str = "."

    def to_yaml(self) -> str:
        return dump(self.config)


def display_path(p: Path | str) -> str:
    """A path as shown in messages: relative to the working folder when inside it."""
    p = Path(p)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


# -- finding files ------------------------------------------------------------------------
def expand_paths(args: list[str | Path]) -> tuple[list[Path], list[ConfigIssue]]:
    """Files named by the arguments: files as given, folders and globs expanded to their
    ``.yaml``/``.yml`` files, skipping names that start with ``_`` or ``.`` (shared bases)."""
    files: list[Path] = []
    issues: list[ConfigIssue] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            files.append(p)

    def listed(p: Path) -> bool:
        return p.suffix.lower() in YAML_SUFFIXES and not p.name.startswith(("_", ".")) and p.is_file()

    for arg in args:
        text = str(arg)
        p = Path(text).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if listed(q))
            if not found:
                issues.append(ConfigIssue(display_path(p), None, "",
                                          "the folder holds no .yaml or .yml config files"))
            for q in found:
                add(q)
        elif any(ch in text for ch in "*?["):
            found = sorted(Path(q) for q in glob.glob(os.path.expanduser(text), recursive=True)
                           if listed(Path(q)))
            if not found:
                issues.append(ConfigIssue(text, None, "", "the pattern matches no .yaml or "
                                                          ".yml config files"))
            for q in found:
                add(q)
        elif p.is_file():
            add(p)
        else:
            issues.append(ConfigIssue(text, None, "", "no such file or folder"))
    return files, issues


# -- merging ------------------------------------------------------------------------------
def _sub_marks(marks: dict[tuple, Mark], prefix: tuple) -> dict[tuple, Mark]:
    n = len(prefix)
    return {p[n:]: m for p, m in marks.items() if p[:n] == prefix}


def merge(base: dict, bmarks: dict, over: dict, omarks: dict,
          schema: sch.Mapping | None = sch.FIT, nulled: list | None = None) -> tuple[dict, dict]:
    """``over`` on top of ``base`` (mappings key by key, null removes), with their marks.
    A key set to null that ``schema`` does not know is added to ``nulled`` as (key, mark)."""
    out = dict(base)
    marks = dict(bmarks)
    if () in omarks:
        marks[()] = omarks[()]
    for k, v in over.items():
        sub_o = _sub_marks(omarks, (k,))
        field_ = schema.fields.get(k) if schema is not None else None
        if v is None and schema is not None and field_ is None and nulled is not None:
            nulled.append((k, schema, omarks.get((k,))))
        if isinstance(v, dict):
            b = out.get(k) if isinstance(out.get(k), dict) else {}
            sub = field_.kind if field_ is not None and isinstance(field_.kind, sch.Mapping) else None
            merged, mm = merge(b, _sub_marks(marks, (k,)) if b else {}, v, sub_o, sub, nulled)
        else:
            merged, mm = v, sub_o
        marks = {p: m for p, m in marks.items() if p[:1] != (k,)}
        if v is None:
            out.pop(k, None)
            continue
        out[k] = merged
        marks.update({(k,) + p: m for p, m in mm.items()})
    return out, marks


# -- loading ------------------------------------------------------------------------------
@dataclass
class _Raw:
    """A fit as written, before merging: its keys, marks (relative to the fit) and origin."""

    data: Any
    marks: dict
    file: Path
    where: tuple  # key path of the fit inside its file
    defaults: tuple[Any, dict] | None = None
    index: int | None = None


@dataclass
class _Loader:
    cache: dict = field(default_factory=dict)  # file -> (data, marks) or YAMLLoadError
    issues: list[ConfigIssue] = field(default_factory=list)
    check_cache: dict = field(default_factory=dict)
    nulled: list = field(default_factory=list)  # unknown keys set to null, found by merge

    def report_nulled(self) -> None:
        for key, schema, mark in self.nulled:
            if mark is None:
                continue
            self.issues.append(ConfigIssue(mark.file, mark.line, mark.where,
                                           f"unknown key {key!r}; expected one of "
                                           f"{', '.join(schema.fields)}"
                                           f"{suggest(key, schema.fields)}"))
        self.nulled.clear()

    def read(self, path: Path):
        key = path.resolve()
        if key not in self.cache:
            try:
                self.cache[key] = load_file(path)
            except YAMLLoadError as exc:
                self.cache[key] = exc
        return self.cache[key]

    def issue(self, file, line, path, message, fit="") -> None:
        self.issues.append(ConfigIssue(display_path(file) if isinstance(file, Path) else file,
                                       line, path, message, fit))

    # a file -> its raw fits
    def raw_fits(self, path: Path, text: str | None = None) -> list[_Raw]:
        if text is not None:
            try:
                loaded = load_text(text, display_path(path))
            except YAMLLoadError as exc:
                loaded = exc
        else:
            loaded = self.read(path)
        if isinstance(loaded, YAMLLoadError):
            self.issue(path, loaded.line, "", loaded.message)
            return []
        data, marks = loaded
        root = marks.get((), Mark(display_path(path), 1, ""))
        if isinstance(data, dict) and "fits" in data:
            for k in data:
                if k not in ("fits", "defaults"):
                    self.issue(path, marks[(k,)].line, k,
                               f"unknown key {k!r} in a file holding several fits; expected "
                               f"fits, defaults{suggest(k, ('fits', 'defaults'))} (or move the "
                               f"key into defaults)")
            fits = data["fits"]
            defaults = data.get("defaults")
            if not isinstance(fits, list) or not fits:
                self.issue(path, marks[("fits",)].line, "fits",
                           f"got {show(fits)}; expected a non-empty list of fits (mappings)")
                return []
            dflt = None
            if defaults is not None:
                if not isinstance(defaults, dict):
                    self.issue(path, marks[("defaults",)].line, "defaults",
                               f"got {show(defaults)}; expected a mapping of fit keys")
                    return []
                if "name" in defaults:
                    self.issue(path, marks[("defaults", "name")].line, "defaults.name",
                               "a name in defaults would name every fit alike; give each fit "
                               "its own name")
                dflt = (defaults, _sub_marks(marks, ("defaults",)), ("defaults",))
            return self._items(path, fits, marks, ("fits",), dflt)
        if isinstance(data, list):
            if not data:
                self.issue(path, root.line, "", "the file holds an empty list; expected fits")
                return []
            return self._items(path, data, marks, (), None)
        if isinstance(data, dict):
            return [_Raw(data, marks, path, ())]
        self.issue(path, root.line, "", f"got {show(data)}; expected a mapping (one fit), a "
                                        f"list of fits, or a mapping with 'fits:'")
        return []

    def _items(self, path, items, marks, prefix, dflt) -> list[_Raw]:
        n = len(prefix)
        per_item: dict[int, dict] = {}  # marks of each item, relative to it (one pass)
        for p, m in marks.items():
            if len(p) > n and p[:n] == prefix:
                per_item.setdefault(p[n], {})[p[n + 1:]] = m
        out = []
        for i, item in enumerate(items):
            where = prefix + (i,)
            if not isinstance(item, dict):
                self.issue(path, marks[where].line, format_path(where),
                           f"got {show(item)}; expected a mapping describing a fit")
                continue
            out.append(_Raw(item, per_item.get(i, {}), path, where, dflt, i))
        return out

    # extends
    def resolve_extends(self, data: dict, marks: dict, file: Path, where: tuple,
                        chain: tuple = ()) -> tuple[dict, dict] | None:
        rel = dict(marks)
        ext = data.get("extends")
        if ext is None:
            return data, rel
        m = rel.get(("extends",)) or rel.get(())
        line = m.line if m is not None else None
        wtext = format_path(where + ("extends",))
        if not isinstance(ext, str) or not ext.strip():
            self.issue(file, line, wtext, f"got {show(ext)}; expected the path of a config file")
            return None
        target = resolve_path(ext, file.parent)
        if not target.is_file():
            self.issue(file, line, wtext, f"got {ext!r}: {target} does not exist; expected a "
                                          f"config file (relative to {display_path(file.parent)})")
            return None
        key = target.resolve()
        if key in chain or key == file.resolve():
            cyc = " -> ".join(display_path(Path(c)) for c in (*chain, key))
            self.issue(file, line, wtext, f"extends {ext!r} makes a cycle ({cyc})")
            return None
        loaded = self.read(target)
        if isinstance(loaded, YAMLLoadError):
            self.issue(target, loaded.line, "", loaded.message)
            return None
        bdata, bmarks = loaded
        if not isinstance(bdata, dict) or "fits" in bdata:
            self.issue(file, line, wtext, f"{ext!r} must hold one fit (a mapping) to be extended")
            return None
        base = self.resolve_extends(bdata, bmarks, target, (), chain + (file.resolve(),))
        if base is None:
            return None
        bd, bm = base
        bd = {k: v for k, v in bd.items() if k != "name"}
        bm = {p: m for p, m in bm.items() if p[:1] != ("name",)}
        own = {k: v for k, v in data.items() if k != "extends"}
        return merge(bd, bm, own, {p: m for p, m in rel.items() if p[:1] != ("extends",)},
                     nulled=self.nulled)


def load(args: list[str | Path], text: str | None = None, base_dir: str | Path | None = None,
         check_duplicates: bool = True) -> list[FitSpec]:
    """Validated fits of the files, folders and globs in ``args`` (or of YAML ``text``, read
    as if it were a file in ``base_dir``). Raises :class:`ConfigError` listing every problem."""
    ld = _Loader()
    if text is not None:
        files = [Path(base_dir or ".") / "<text>.yaml"]
    else:
        files, ld.issues = expand_paths(list(args))
    raws: list[_Raw] = []
    for f in files:
        raws += ld.raw_fits(f, text=text)
    specs: list[FitSpec] = []
    for raw in raws:
        spec = _resolve(ld, raw)
        if spec is not None:
            specs.append(spec)
    if check_duplicates:
        first: dict[str, FitSpec] = {}
        for s in specs:
            if s.key in first:
                ld.issue(s.source, None, "", f"describes the same fit as {first[s.key].source} "
                                             f"(same name and content); remove one or rename it")
            else:
                first[s.key] = s
    if ld.issues:
        ld.issues = list(dict.fromkeys(ld.issues))  # a base shared by several fits: once
        order: dict[str, int] = {}
        for i in ld.issues:
            order.setdefault(i.file, len(order))
        raise ConfigError(sorted(ld.issues, key=lambda i: (order[i.file], i.line or 0)))
    return specs


def load_one(path: str | Path) -> FitSpec:
    specs = load([path])
    if len(specs) != 1:
        raise ConfigError([ConfigIssue(display_path(path), None, "",
                                       f"holds {len(specs)} fits; expected one")])
    return specs[0]


def loads(text: str, base_dir: str | Path = ".") -> list[FitSpec]:
    """Validated fits of YAML text (relative paths are relative to ``base_dir``)."""
    return load([], text=text, base_dir=base_dir)


def _resolve(ld: _Loader, raw: _Raw) -> FitSpec | None:
    """Merge a raw fit with its defaults and extends, validate it, and build its FitSpec."""
    file = raw.file
    fit_label = display_path(file) + (f"#{format_path(raw.where)}" if raw.where else "")
    n_before = len(ld.issues)
    own = ld.resolve_extends(raw.data, raw.marks, file, raw.where)
    if own is None:
        return None
    data, marks = own
    if raw.defaults is not None:
        dd, dm, dwhere = raw.defaults
        d = ld.resolve_extends(dd, dm, file, dwhere)
        if d is None:
            return None
        ddata, dmarks = d
        ddata = {k: v for k, v in ddata.items() if k not in ("extends", "name")}
        dmarks = {p: m for p, m in dmarks.items() if p[:1] not in (("extends",), ("name",))}
        data, marks = merge(ddata, dmarks, data, marks, nulled=ld.nulled)
    else:
        data, marks = merge({}, {}, data, marks, nulled=ld.nulled)
    ld.report_nulled()
    data.pop("extends", None)
    marks = {p: m for p, m in marks.items() if p[:1] != ("extends",)}

    def report(path: tuple, message: str) -> None:
        p = path
        while p and p not in marks:
            p = p[:-1]
        m = marks.get(p) or Mark(display_path(file), None, format_path(raw.where))
        rest, where = path[len(p):], m.where
        for q in rest:
            where += f"[{q}]" if isinstance(q, int) else (f".{q}" if where else str(q))
        origin = inherited_from(m, file, raw.defaults is not None)
        ld.issues.append(ConfigIssue(m.file, m.line, where, message,
                                     fit_label if origin else "", origin))

    base_dir = file.parent
    ctx = sch.CheckContext(base_dir=base_dir, cache=ld.check_cache)
    problems = sch.FIT.check(data, ())
    bad_keys = {p[0] for p, _ in problems if p}
    for p, msg in problems:
        report(p, msg)
    if not any(p == () for p, _ in problems):
        for name, f in sch.FIT.fields.items():
            if f.check is None or name in bad_keys or data.get(name) is None:
                continue
            if name == "link" and "family" in bad_keys:
                continue
            for p, msg in f.check(data[name], data, ctx):
                report(p, msg)
        _check_columns(data, ctx, bad_keys, report)
    if len(ld.issues) > n_before:
        return None
    name = data.get("name")
    if name is None:
        name = file.stem if raw.index is None else f"{file.stem}[{raw.index}]"
    config = normalized(data, base_dir)
    config = {"name": name, **{k: v for k, v in config.items() if k != "name"}}
    return FitSpec(name=name, source=fit_label, config=config, key=content_key(config),
                   base_dir=str(base_dir.resolve()))


def inherited_from(mark: Mark, file: Path, has_defaults: bool) -> str:
    """How the value at ``mark`` reaches a fit of ``file``: "" when the fit's file writes it
    itself (compared as resolved paths: ``a/../f.yaml`` and ``f.yaml`` are one file), "through
    extends" from another file, "from the file's defaults" from its ``defaults:``."""
    try:
        same = Path(mark.file).resolve() == file.resolve()
    except OSError:
        same = mark.file == display_path(file)
    if not same:
        return "through extends"
    if has_defaults and mark.where.startswith("defaults"):
        return "from the file's defaults"
    return ""


def _check_columns(data: dict, ctx: sch.CheckContext, bad_keys: set, report) -> None:
    columns = ctx.scratch.get("columns")
    if columns is None or "data" in bad_keys:
        return
    groups = data.get("groups")
    glist = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
    rlist = data.get("random")
    rlist = [rlist] if isinstance(rlist, str) else rlist if isinstance(rlist, list) else []
    for c in sorted(ctx.scratch.get("columns_used", set())):
        if c in columns:
            continue
        where: tuple = ("formula",)
        if c in glist:
            where = ("groups",) if isinstance(groups, str) else ("groups", glist.index(c))
        elif not _mentions(data.get("formula", ""), c) and any(_mentions(r, c) for r in rlist):
            where = ("random",)
        report(where, column_message(c, columns))
    for key in ("weights", "offset"):
        v = data.get(key)
        if isinstance(v, str) and key not in bad_keys and v not in columns:
            report((key,), column_message(v, columns))


def _mentions(text: str, name: str) -> bool:
    return isinstance(text, str) and re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", text) is not None


# -- normal form and hash -----------------------------------------------------------------
def _strip_nulls(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _strip_nulls(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_strip_nulls(v) for v in x]
    return x


def normalized(data: dict, base_dir: Path) -> dict:
    """The fit with nulls removed and file paths absolute (so it reads the same anywhere)."""
    cfg = _strip_nulls(copy.deepcopy(data))
    d = cfg.get("data", {})
    if "path" in d:
        d["path"] = str(resolve_path(d["path"], base_dir).resolve())
    out = cfg.get("output")
    if isinstance(out, dict) and "path" in out:
        out["path"] = str(resolve_path(out["path"], base_dir).resolve())
    return cfg


def canonical(config: dict) -> dict:
    """What the content hash covers: the fit with defaults filled in, plugin names in their
    registered spelling, and a data file replaced by the sha256 of its bytes."""
    from interlace.config.runner import model_optimizer
    from interlace.registry import registry

    reg = registry()
    c = copy.deepcopy(config)
    for path in sch.HASH_EXCLUDED:
        node = c
        for k in path[:-1]:
            node = node.get(k, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(path[-1], None)
    c["model"] = c.get("model") or "glmm"
    if c["model"] == "glmm":
        fam = reg.get_class("family", c.get("family", "binomial"))
        c["family"] = fam.name
        c["link"] = (reg.get_class("link", c["link"]).name if c.get("link")
                     else (fam.links or (None,))[0])
    else:
        _canonical_other_kind(c)
    # No optimizer given: the one glmer uses (the model kind's default: the GLMM default, or
    # None for the LMM's built-in method), so that naming the default hashes the same.
    c["optimizer"] = (reg.get_class("optimizer", c["optimizer"]).name if c.get("optimizer")
                      else model_optimizer(c) if c["model"] == "glmm" else None)
    c["nAGQ"] = int(c.get("nAGQ", 1))
    # No integrator given: glmer chooses (laplace, quadrature for nAGQ > 1, or the family's own
    # default, e.g. glmmTMB's observed-information Laplace for zero-inflated families).
    integ = c.get("integrator")
    if integ:
        try:
            c["integrator"] = reg.get_class("integrator", integ).name
        except InterlaceError:
            c["integrator"] = integ
    else:
        c.pop("integrator", None)
    for k in ("groups", "random"):
        if isinstance(c.get(k), str):
            c[k] = [c[k]]
    c["family_params"] = {k: float(v) for k, v in c.get("family_params", {}).items()}
    d = c["data"]
    if "path" in d:
        p = Path(d.pop("path"))
        d["format"] = data_format({**d, "path": str(p)})
        d["sha256"] = file_digest(p) if p.is_file() else f"missing:{p}"
    out = c.setdefault("output", {})
    out["random_effects"] = bool(out.get("random_effects", False))
    return c


def _canonical_other_kind(c: dict) -> None:
    """Defaults of model: lmm (method REML) and model: clmm (link logit) filled in, in place;
    clmm's default ``threshold: flexible`` is left out, so that naming it hashes the same as
    configs written before the key existed."""
    if c["model"] == "lmm":
        c["method"] = c.get("method") or "REML"
    else:
        c["link"] = str(c.get("link") or "logit").lower()
        if (c.get("threshold") or "flexible") == "flexible":
            c.pop("threshold", None)


def content_key(config: dict) -> str:
    text = json.dumps(canonical(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
