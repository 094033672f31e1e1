"""Safe YAML loading that remembers where every value came from.

Only PyYAML's safe loader is used: tags such as ``!!python/object`` are refused, so nothing
in a config can create Python objects. The document is composed into nodes and rebuilt here,
which gives each key path the line it was written on (for error messages), refuses duplicate
keys (PyYAML silently keeps the last one) and bounds the size of what anchors and aliases can
expand to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader composes the same nodes, faster
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

MAX_NODES = 100_000  # values after alias expansion ("billion laughs" guard)
MAX_DEPTH = 50


@dataclass(frozen=True)
class Mark:
    """Where a value was written: its file, line (1-based) and key path inside that file."""

    file: str
    line: int | None
    where: str  # the key path as written in that file, e.g. "fits[2].family"


class YAMLLoadError(Exception):
    """The text is not a YAML document we accept; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def format_path(path: tuple) -> str:
    """``("fits", 2, "family")`` -> ``"fits[2].family"``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def load_text(text: str, file: str = "<string>") -> tuple[Any, dict[tuple, Mark]]:
    """Parse one YAML document; return the data and a mark for every key path."""
    marks: dict[tuple, Mark] = {}
    loader = _Loader(text)
    counter = [0]
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            problem = exc.problem or exc.context or "invalid YAML"
            raise YAMLLoadError(f"invalid YAML: {problem}", line) from None
        except yaml.YAMLError as exc:
            raise YAMLLoadError(f"invalid YAML: {exc}") from None
        if node is None:
            return None, marks
        data = _build(loader, node, (), marks, file, counter, 0)
        return data, marks
    finally:
        loader.dispose()


def load_file(path: Path) -> tuple[Any, dict[tuple, Mark]]:
    """Read and parse ``path`` (UTF-8)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise YAMLLoadError(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YAMLLoadError(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return load_text(text, str(path))


def _line(node) -> int | None:
    m = getattr(node, "start_mark", None)
    return None if m is None else m.line + 1


def _build(loader, node, path: tuple, marks: dict, file: str, counter: list, depth: int) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise YAMLLoadError(f"the document expands to more than {MAX_NODES} values (anchors and "
                            f"aliases used as a bomb?)", _line(node))
    if depth > MAX_DEPTH:
        raise YAMLLoadError(f"the document nests deeper than {MAX_DEPTH} levels", _line(node))
    marks.setdefault(path, Mark(file, _line(node), format_path(path)))
    if isinstance(node, yaml.MappingNode) and node.tag == "tag:yaml.org,2002:map":
        own: dict = {}  # keys written in this mapping (not merged in by '<<'): no repeats
        for knode, _ in node.value:
            if isinstance(knode, yaml.ScalarNode) and knode.tag != "tag:yaml.org,2002:merge":
                key = _construct(loader, knode)
                if isinstance(key, str) and key in own:
                    raise YAMLLoadError(
                        f"duplicate key {format_path(path + (key,))!r} (first on line "
                        f"{own[key]})", _line(knode))
                if isinstance(key, str):
                    own[key] = _line(knode)
        try:
            loader.flatten_mapping(node)  # YAML merge keys '<<': merged entries come first
        except yaml.MarkedYAMLError as exc:
            raise YAMLLoadError(f"invalid YAML merge key: {exc.problem}", _line(node)) from None
        out: dict = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise YAMLLoadError("mapping keys must be plain names, not lists or mappings",
                                    _line(knode))
            key = _construct(loader, knode)
            if not isinstance(key, str):
                raise YAMLLoadError(f"mapping key {key!r} at {format_path(path) or 'top level'} "
                                    f"must be a string", _line(knode))
            sub = path + (key,)
            if key in out:  # a key written here overrides one merged in by '<<'
                for p in [p for p in marks if p[: len(sub)] == sub]:
                    del marks[p]
            marks[sub] = Mark(file, _line(knode), format_path(sub))
            out[key] = _build(loader, vnode, sub, marks, file, counter, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode) and node.tag == "tag:yaml.org,2002:seq":
        return [_build(loader, item, path + (i,), marks, file, counter, depth + 1)
                for i, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode):
        return _construct(loader, node)
    return _construct(loader, node)


def _construct(loader, node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as exc:
        raise YAMLLoadError(f"value not allowed: {exc.problem}", _line(node)) from None
    except (ValueError, TypeError) as exc:
        raise YAMLLoadError(f"value not allowed: {exc}", _line(node)) from None


def dump(data: Any) -> str:
    """YAML text for plain data (safe dumper, keys in the order given) that loads back to the
    same data: non-ASCII text is kept readable unless PyYAML would not read it back (line
    breaks such as U+0085), in which case everything non-ASCII is escaped."""
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    try:
        if load_text(text)[0] == data:
            return text
    except YAMLLoadError:
        pass
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=False)
