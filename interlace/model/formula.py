"""Parse lme4-style formulas into a response, a fixed part, offsets and random-effect terms.

``y ~ x + (1 + x | g) + (1 | a/b) + offset(log(n))`` becomes the response ``y``, the fixed
formula ``x`` (handed to formulaic), the offset expression ``log(n)`` and the random terms
``(1 + x | g)``, ``(1 | a)`` and ``(1 | a:b)``. The ``groups=`` and ``random=`` shorthands of
:func:`interlace.glmer` produce the same terms.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from interlace.caches import bounded_cache
from interlace.errors import FormulaError

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_QUOTED_NAME = re.compile(r"^`[^`]+`$")
_DOTTED = re.compile(r"(?<![\w.`)\]])[A-Za-z_.][A-Za-z0-9_.]*")
_QUOTES = re.compile(r"`[^`]*`|'[^']*'|\"[^\"]*\"")


def quote_dotted_names(text: str) -> str:
    """R's dotted column names (``total.fruits``) written bare in an expression, quoted with
    backticks for formulaic, which would otherwise read ``total.fruits`` as the attribute
    ``fruits`` of a column ``total``: a name with a dot is a column name, as in R. Names
    followed by ``(`` (functions such as ``np.log``), names with a double-underscore part
    (Python's internals, never a column), numbers and quoted text are kept."""
    if "." not in text:
        return text
    spans = [m.span() for m in _QUOTES.finditer(text)]

    def quote(m: re.Match) -> str:
        name, at = m.group(0), m.start()
        if ("." not in name or not re.search(r"[A-Za-z]", name)
                or any(part.startswith("__") for part in name.split("."))  # x.__class__
                or any(a <= at < b for a, b in spans)
                or text[m.end():].lstrip().startswith("(")):
            return name
        return f"`{name}`"

    return _DOTTED.sub(quote, text)


def unquote_name(name: str) -> str:
    """A column name without the backticks that quote it (```total.fruits``` -> ``total.fruits``)."""
    name = name.strip()
    return name[1:-1] if _QUOTED_NAME.match(name) else name


@dataclass(frozen=True)
class RandomTermSpec:
    """One bar term ``(expr | group)``; ``correlated`` is False for ``||``. A term written
    ``name(expr | group, options)`` names its covariance structure plugin (``structure``) and
    keeps the call's further arguments as text (``options``)."""

    expr: str
    group: str
    correlated: bool = True
    structure: str = ""
    options: tuple[str, ...] = ()

    @property
    def group_vars(self) -> list[str]:
        return [g.strip() for g in self.group.split(":")]

    def __str__(self) -> str:
        if self.structure:
            opts = "".join(f", {o}" for o in self.options)
            return f"{self.structure}({self.expr} | {self.group}{opts})"
        return f"({self.expr} {'|' if self.correlated else '||'} {self.group})"


#: ``name(expr | group, options)``: a random-effect term with a named covariance structure.
_STRUCTURED = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\s*\((.*)\)$", re.S)


def structured_call(text: str) -> tuple[str, str] | None:
    """(name, inside) when ``text`` is ``name(...)`` with a top-level '|' inside, else None."""
    m = _STRUCTURED.match(text.strip())
    if m is None or not wraps_whole(text.strip()[len(m.group(1)):].strip()):
        return None
    inside = m.group(2)
    parts = split_top_level(inside, ",")
    return (m.group(1), inside) if len(split_top_level(parts[0], "|")) > 1 else None


def parse_structured(text: str) -> list[RandomTermSpec]:
    """Parse ``name(expr | group, opt, key = value)`` (glmmTMB's syntax for a structure)."""
    found = structured_call(text)
    if found is None:
        return parse_bar(text)
    name, inside = found
    bar, *options = [p.strip() for p in split_top_level(inside, ",")]
    if any(not o for o in options):
        raise FormulaError(f"empty argument in random-effect term {text.strip()!r}")
    if len(split_top_level(bar, "||")) > 1:
        raise FormulaError(f"random-effect term {text.strip()!r}: a covariance structure is "
                           f"written with a single bar, as '{name}(expr | group)'")
    return [dataclasses.replace(spec, structure=name, options=tuple(options))
            for spec in parse_bar(bar)]


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
    params: dict[str, str] = field(default_factory=dict)  # family parameter -> formula rhs


def top_level(text: str):
    """Yield the index of every character outside brackets and quotes (the brackets and
    quote marks themselves excluded); raise FormulaError on unbalanced ones."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "`'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in {text!r}")
        elif depth == 0:
            yield i
    if quote:
        raise FormulaError(f"unclosed quote {quote} in {text!r}")
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in {text!r}")


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not inside parentheses or quotes (``sep`` may be several
    chars); backtick-quoted names such as ```my col``` are kept whole."""
    parts, start = [], 0
    for i in top_level(text):
        if i >= start and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
    parts.append(text[start:])
    return parts


def _split_signed(text: str) -> list[tuple[str, str]]:
    """Split a right-hand side into ``(sign, term)`` pairs at top-level ``+`` and ``-``."""
    out, start, sign = [], 0, "+"
    for i in top_level(text):
        if text[i] in "+-":
            out.append((sign, text[start:i]))
            sign, start = text[i], i + 1
    out.append((sign, text[start:]))
    if out[0][1].strip() == "" and len(out) > 1 and out[1][0] == "-":
        out = out[1:]  # a leading unary minus, as in '~ -1 + x'
    return out


def wraps_whole(t: str) -> bool:
    """Whether ``t`` is one parenthesised group: its first '(' closes at its last char."""
    if not (t.startswith("(") and t.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(t):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i == len(t) - 1
    return False


def _strip_parens(text: str) -> str:
    t = text.strip()
    while wraps_whole(t):
        t = t[1:-1].strip()
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
    nests = []
    for g in split_top_level(group, "/"):
        names = []
        for v in (v.strip() for v in g.split(":")):
            name = unquote_name(v)  # a backtick-quoted name may hold any character
            if not (_NAME.match(v) or (name != v and name)):
                raise FormulaError(
                    f"grouping factor {v!r} in {text.strip()!r} must be a column name "
                    f"(use 'a:b' for interactions and 'a/b' for nesting; quote a name with "
                    f"spaces or symbols in backticks, as in R: `my group`)"
                )
            names.append(name)
        nests.append(":".join(names))
    groups = [":".join(nests[: i + 1]) for i in range(len(nests))]
    return [RandomTermSpec(quote_dotted_names(expr), g, correlated) for g in groups]


def _parse_response(lhs: str) -> ResponseSpec:
    text = lhs.strip()
    if not text:
        raise FormulaError("formula has no response left of '~'")
    m = re.match(r"^cbind\s*\((.*)\)$", text)
    if m:
        parts = [p.strip() for p in split_top_level(m.group(1), ",")]
        if len(parts) != 2 or not all(parts):
            raise FormulaError(f"cbind() response {text!r} needs two columns: successes, failures")
        return ResponseSpec("cbind", tuple(quote_dotted_names(p) for p in parts), text)
    ratio = [p.strip() for p in split_top_level(text, "/")]
    if len(ratio) == 2 and all(ratio):
        return ResponseSpec("ratio", tuple(quote_dotted_names(p) for p in ratio), text)
    if len(ratio) > 2:
        raise FormulaError(f"response {text!r}: use 'successes / trials'")
    return ResponseSpec("simple", (quote_dotted_names(text),), text)


def _key(x):
    """A hashable stand-in for a ``groups`` / ``random`` argument (None: do not cache)."""
    if x is None or isinstance(x, str):
        return ("v", x)
    if isinstance(x, (list, tuple)) and all(isinstance(v, str) for v in x):
        return ("l", type(x).__name__, tuple(x))
    return None


def parse_formula(formula: str, groups=None, random=None) -> ParsedFormula:
    """Split ``formula`` and merge the ``groups``/``random`` shorthands into its random terms
    (parsed once per distinct text; each call gets its own copy of the containers)."""
    kg, kr = _key(groups), _key(random)
    if not isinstance(formula, str) or kg is None or kr is None:
        return _parse_formula(formula, groups, random)
    p = _parse_cached(formula, kg, kr)
    return dataclasses.replace(p, offsets=list(p.offsets), random=list(p.random),
                               params=dict(p.params))


def _unkey(k):
    return k[1] if k[0] == "v" else (list(k[2]) if k[1] == "list" else tuple(k[2]))


@bounded_cache("formula.parse", 256, "a formula text split into its parts (response, terms)")
def _parse_cached(formula: str, kg: tuple, kr: tuple) -> ParsedFormula:
    return _parse_formula(formula, _unkey(kg), _unkey(kr))


def _parse_formula(formula: str, groups=None, random=None) -> ParsedFormula:
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
    for sign, term in _split_signed(rhs):
        t = term.strip()
        if not t:
            raise FormulaError(f"empty term in formula {formula!r} (a stray '{sign}')")
        inner = _strip_parens(t)
        if not inner:
            raise FormulaError(f"empty parentheses {t!r} in formula {formula!r}")
        if t.startswith("(") and (len(split_top_level(inner, "|")) > 1):
            if sign == "-":
                raise FormulaError(
                    f"random-effect term {t!r} in {formula!r} cannot be removed with '-'; "
                    f"leave it out of the formula instead"
                )
            rand.extend(parse_bar(t))
        elif structured_call(t) is not None:
            if sign == "-":
                raise FormulaError(f"random-effect term {t!r} in {formula!r} cannot be removed "
                                   f"with '-'; leave it out of the formula instead")
            rand.extend(parse_structured(t))
        elif re.match(r"^offset\s*\(", t):
            if sign == "-" or not t.endswith(")"):
                raise FormulaError(
                    f"offset term {t!r} in {formula!r} must be written '+ offset(expr)'"
                )
            off = t[t.index("(") + 1 : -1].strip()
            if not off:
                raise FormulaError(f"offset() in {formula!r} is empty; write offset(expr)")
            offsets.append(quote_dotted_names(off))
        elif "|" in t:
            if "(" in t and "|" in inner and len(split_top_level(inner, "|")) == 1:
                raise FormulaError(
                    f"random-effect term in {t!r} must stand alone, as '+ (expr | group)'; it "
                    f"cannot be combined with other terms by '*', ':' or a function"
                )
            raise FormulaError(f"random-effect term {t!r} must be in parentheses: '({t})'")
        else:
            fixed_terms.append((sign, quote_dotted_names(t)))
    rand.extend(group_terms(groups))
    rand.extend(random_terms(random))
    fixed = "1"
    if fixed_terms:
        fixed = " ".join(f"{sg} {t}" for sg, t in fixed_terms).lstrip("+ ")
        if fixed_terms[0][0] == "-":
            fixed = "1 " + fixed  # '~ -1 + x': remove the intercept formulaic would add
    seen, unique = set(), []
    for spec in rand:
        key = (spec.expr.replace(" ", ""), spec.group.replace(" ", ""), spec.correlated,
               spec.structure, spec.options)
        if key not in seen:
            seen.add(key)
            unique.append(spec)
    return ParsedFormula(response, fixed, offsets, unique, formula)


def _listed(value, key: str, expected: str) -> list:
    """A ``groups=`` / ``random=`` argument as a list (one string or a list / tuple of them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise FormulaError(f"{key}= must be {expected}, got {type(value).__name__} {value!r}")


def group_terms(groups) -> list[RandomTermSpec]:
    """The random intercepts of the ``groups=`` shorthand: ``"herd"`` is ``(1 | herd)``."""
    if groups is None:
        return []
    glist = _listed(groups, "groups", "a column name or a list of column names")
    if not glist:
        raise FormulaError("groups= is empty; give a column name or a list of them")
    out = []
    for g in glist:
        if not isinstance(g, str) or not g.strip():
            raise FormulaError(f"groups= entries must be column names, got {g!r}")
        out.extend(parse_bar(f"1 | {g.strip()}"))
    return out


def random_terms(random) -> list[RandomTermSpec]:
    """The terms of the ``random=`` shorthand: strings like ``"(1 + x | g)"`` (several joined by
    ``+`` in one string, or a list of them)."""
    if random is None:
        return []
    out = []
    for r in _listed(random, "random", "a string like '(1 + x | g)' or a list of them"):
        if not isinstance(r, str):
            raise FormulaError(f"random= entries must be strings like '(1 | g)', got {r!r}")
        whole = r.strip().startswith("(") or structured_call(r.strip()) is not None
        for piece in split_top_level(r, "+") if whole else [r]:
            if piece.strip():
                out.extend(parse_structured(piece))
    return out
