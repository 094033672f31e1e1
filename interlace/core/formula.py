"""Parse lme4-style formulas into a response, a fixed part, offsets and random-effect terms.

``y ~ x + (1 + x | g) + (1 | a/b) + offset(log(n))`` becomes the response ``y``, the fixed
formula ``x`` (handed to formulaic), the offset expression ``log(n)`` and the random terms
``(1 + x | g)``, ``(1 | a)`` and ``(1 | a:b)``. The ``groups=`` and ``random=`` shorthands of
:func:`interlace.glmer` produce the same terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from interlace.core.errors import FormulaError

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class RandomTermSpec:
    """One bar term ``(expr | group)``; ``correlated`` is False for ``||``."""

    expr: str
    group: str
    correlated: bool = True

    @property
    def group_vars(self) -> list[str]:
        return [g.strip() for g in self.group.split(":")]

    def __str__(self) -> str:
        return f"({self.expr} {'|' if self.correlated else '||'} {self.group})"


@dataclass(frozen=True)
class ResponseSpec:
    """``kind`` is "simple" (a column or expression), "ratio" (``s / n``) or "cbind"."""

    kind: str
    exprs: tuple[str, ...]
    text: str


@dataclass
class ParsedFormula:
    response: ResponseSpec
    fixed: str
    offsets: list[str] = field(default_factory=list)
    random: list[RandomTermSpec] = field(default_factory=list)
    text: str = ""


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not inside parentheses (``sep`` may be several chars)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in {text!r}")
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in {text!r}")
    parts.append(text[start:])
    return parts


def _strip_parens(text: str) -> str:
    t = text.strip()
    while t.startswith("(") and t.endswith(")") and len(split_top_level(t[1:-1], ")")) == 1:
        inner = t[1:-1]
        try:
            split_top_level(inner, "+")
        except FormulaError:
            break
        t = inner.strip()
    return t


def parse_bar(text: str) -> list[RandomTermSpec]:
    """Parse ``expr | g`` / ``expr || g`` (parentheses optional), expanding ``a/b`` nesting."""
    body = _strip_parens(text)
    double = split_top_level(body, "||")
    if len(double) == 2:
        expr, group, correlated = double[0], double[1], False
    else:
        single = split_top_level(body, "|")
        if len(single) != 2:
            raise FormulaError(
                f"malformed random-effect term {text.strip()!r}: expected '(expr | group)' "
                f"such as '(1 | herd)' or '(1 + x | subject)'"
            )
        expr, group, correlated = single[0], single[1], True
    expr, group = expr.strip(), group.strip()
    if not expr:
        raise FormulaError(f"random-effect term {text.strip()!r} has nothing left of '|'")
    if not group:
        raise FormulaError(f"random-effect term {text.strip()!r} has no grouping factor")
    nests = [g.strip() for g in split_top_level(group, "/")]
    for g in nests:
        for v in g.split(":"):
            if not _NAME.match(v.strip()):
                raise FormulaError(
                    f"grouping factor {v.strip()!r} in {text.strip()!r} must be a column name "
                    f"(use 'a:b' for interactions and 'a/b' for nesting)"
                )
    groups = [":".join(nests[: i + 1]) for i in range(len(nests))]
    return [RandomTermSpec(expr, g, correlated) for g in groups]


def _parse_response(lhs: str) -> ResponseSpec:
    text = lhs.strip()
    if not text:
        raise FormulaError("formula has no response left of '~'")
    m = re.match(r"^cbind\s*\((.*)\)$", text)
    if m:
        parts = [p.strip() for p in split_top_level(m.group(1), ",")]
        if len(parts) != 2 or not all(parts):
            raise FormulaError(f"cbind() response {text!r} needs two columns: successes, failures")
        return ResponseSpec("cbind", tuple(parts), text)
    ratio = [p.strip() for p in split_top_level(text, "/")]
    if len(ratio) == 2 and all(ratio):
        return ResponseSpec("ratio", tuple(ratio), text)
    if len(ratio) > 2:
        raise FormulaError(f"response {text!r}: use 'successes / trials'")
    return ResponseSpec("simple", (text,), text)


def parse_formula(formula: str, groups=None, random=None) -> ParsedFormula:
    """Split ``formula`` and merge the ``groups``/``random`` shorthands into its random terms."""
    if not isinstance(formula, str):
        raise FormulaError(f"formula must be a string like 'y ~ x', got {type(formula).__name__}")
    sides = split_top_level(formula, "~")
    if len(sides) != 2:
        raise FormulaError(f"formula {formula!r} must have exactly one '~' (response ~ terms)")
    response = _parse_response(sides[0])
    fixed_terms, offsets, rand = [], [], []
    rhs = sides[1].strip()
    if not rhs:
        raise FormulaError(f"formula {formula!r} has no terms right of '~' (use '~ 1')")
    for term in split_top_level(rhs, "+"):
        t = term.strip()
        if not t:
            raise FormulaError(f"empty term in formula {formula!r} (a stray '+')")
        inner = _strip_parens(t)
        if t.startswith("(") and (len(split_top_level(inner, "|")) > 1):
            rand.extend(parse_bar(t))
        elif re.match(r"^offset\s*\(", t):
            offsets.append(t[t.index("(") + 1 : -1].strip())
        elif "|" in t:
            raise FormulaError(f"random-effect term {t!r} must be in parentheses: '({t})'")
        else:
            fixed_terms.append(t)
    if groups is not None:
        glist = [groups] if isinstance(groups, str) else list(groups)
        if not glist:
            raise FormulaError("groups= is empty; give a column name or a list of them")
        for g in glist:
            if not isinstance(g, str) or not g.strip():
                raise FormulaError(f"groups= entries must be column names, got {g!r}")
            rand.extend(parse_bar(f"1 | {g.strip()}"))
    if random is not None:
        rlist = [random] if isinstance(random, str) else list(random)
        for r in rlist:
            if not isinstance(r, str):
                raise FormulaError(f"random= entries must be strings like '(1 | g)', got {r!r}")
            for piece in split_top_level(r, "+") if r.strip().startswith("(") else [r]:
                if piece.strip():
                    rand.extend(parse_bar(piece))
    fixed = " + ".join(fixed_terms) if fixed_terms else "1"
    seen, unique = set(), []
    for spec in rand:
        key = (spec.expr.replace(" ", ""), spec.group.replace(" ", ""), spec.correlated)
        if key not in seen:
            seen.add(key)
            unique.append(spec)
    return ParsedFormula(response, fixed, offsets, unique, formula)
