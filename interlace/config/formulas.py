"""Formulas from configs: only the documented transforms, never arbitrary Python.

formulaic evaluates the inside of ``{...}`` and of function calls as Python, so a formula is
code. A formula that comes from a config file is therefore checked before it reaches
formulaic: its formula operators (``+ - * / : ^ %in% |``, parentheses) are parsed here, and
every term must be a column name, a number, or a call of a function on the allow-list below
whose arguments are column names, numbers, strings, arithmetic, comparisons or further
allowed calls. Attribute access (``np.log``), subscripts, ``{...}`` blocks, lambdas,
comprehensions and names with double underscores are refused.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from interlace.errors import FormulaError
from interlace.model.formula import parse_formula, split_top_level, top_level, wraps_whole
from interlace.registry import registry

#: function -> what it does (rendered into docs/configs.md)
ALLOWED_FUNCTIONS: dict[str, str] = {
    "log": "natural logarithm",
    "log2": "base-2 logarithm",
    "log10": "base-10 logarithm",
    "exp": "exponential",
    "sqrt": "square root",
    "scale": "centre and divide by the standard deviation (`scale(x)`)",
    "center": "subtract the mean",
    "standardize": "same as `scale`",
    "poly": "orthogonal polynomial of a degree, `poly(x, 2)` (`raw=True` for raw powers)",
    "C": "treat as categorical, optionally with a contrast: `C(x)`, `C(x, Sum)`, "
         "`C(x, Treatment(reference='b'))`, `C(x, levels=['a', 'b'])`",
    "Treatment": "contrast coding, inside `C()`",
    "Sum": "contrast coding, inside `C()`",
    "Helmert": "contrast coding, inside `C()`",
    "Diff": "contrast coding, inside `C()`",
    "I": "arithmetic as written, `I(x ** 2)`, `I(x / 1000)`, `I(a + b)`, `I(x > 0)`",
    "offset": "a known term of the linear predictor, `+ offset(log(n))` (formula level only)",
}
CONTRASTS = frozenset({"Treatment", "Sum", "Helmert", "Diff"})

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
           ast.BitAnd, ast.BitOr)
_UNARY = (ast.UAdd, ast.USub, ast.Invert, ast.Not)
_CMPOPS = (ast.Gt, ast.GtE, ast.Lt, ast.LtE, ast.Eq, ast.NotEq)
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$")


@dataclass
class FormulaCheck:
    """Problems found (each a sentence) and the data columns the formula uses."""

    problems: list[str] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)


def check_formula(formula: str, groups=None, random=None) -> FormulaCheck:
    """Check a config formula (and the ``groups``/``random`` shorthands) against the allow-list."""
    out = FormulaCheck()
    try:
        parsed = parse_formula(formula, groups=groups, random=random)
    except FormulaError as exc:
        out.problems.append(str(exc))
        return out
    r = parsed.response
    for expr in r.exprs:
        _python_expr(expr, f"response {r.text!r}", out)
    _formula_part(parsed.fixed, "fixed effects", out)
    for off in parsed.offsets:
        _python_expr(off, f"offset({off})", out)
    for spec in parsed.random:
        _formula_part(spec.expr, f"random-effect term {spec}", out)
        out.columns.update(spec.group_vars)
        known = registry().classes("covariance")
        if spec.structure and spec.structure.lower() not in known:
            out.problems.append(f"random-effect term {spec}: unknown covariance structure "
                                f"{spec.structure!r}; registered structures: "
                                f"{', '.join(registry().names('covariance'))}")
    return out


def check_param_formula(text: str, key: str) -> FormulaCheck:
    """Check a one-sided family-parameter formula (``ziformula``, ``dispformula``)."""
    from interlace.errors import InterlaceError
    from interlace.model.param_formulas import one_sided_rhs

    out = FormulaCheck()
    try:
        rhs = one_sided_rhs(text, key)
    except InterlaceError as exc:
        out.problems.append(str(exc))
        return out
    if rhs is not None:
        _formula_part(rhs, key, out)
    return out


def core_formula(formula: str) -> str:
    """The formula as handed to the fitting core: ``sqrt(...)`` becomes ``np.sqrt(...)`` when
    formulaic has no ``sqrt`` transform of its own (a checked formula only, never user text)."""
    try:
        from formulaic.transforms import TRANSFORMS
    except ImportError:  # pragma: no cover - formulaic moved its table
        TRANSFORMS = {}
    if "sqrt" in TRANSFORMS:
        return formula
    return _rewrite_outside_quotes(formula, re.compile(r"(?<![\w.`])sqrt(\s*\()"), r"np.sqrt\1")


def _rewrite_outside_quotes(text: str, pattern: re.Pattern, repl: str) -> str:
    pieces = re.split(r"(`[^`]*`|'[^']*'|\"[^\"]*\")", text)
    return "".join(p if i % 2 else pattern.sub(repl, p) for i, p in enumerate(pieces))


# -- formula level ------------------------------------------------------------------------
def _atoms(text: str) -> list[str]:
    """Split a right-hand side at top-level formula operators into its operands (the caller
    has checked that brackets and quotes balance and that there are no '{...}' blocks)."""
    atoms, start = [], 0
    for i in top_level(text):
        if i < start:
            continue  # inside a '%in%' just consumed
        if text.startswith("%in%", i):
            atoms.append(text[start:i])
            start = i + 4
        elif text[i] in "+-*/:^|~":
            atoms.append(text[start:i])
            start = i + 1
    atoms.append(text[start:])
    return [a.strip() for a in atoms]


def _formula_part(text: str, where: str, out: FormulaCheck, depth: int = 0) -> None:
    try:
        split_top_level(text, "+")  # balanced parentheses and quotes, with their messages
    except FormulaError as exc:
        out.problems.append(f"{where}: {exc}")
        return
    if "{" in text or "}" in text:
        out.problems.append(f"{where}: '{{...}}' blocks run Python and are not allowed in "
                            f"config formulas; use the documented transforms")
        return
    for atom in _atoms(text):
        if not atom:
            continue  # a leading '-1' or '0 +': operators only
        if atom.startswith("(") and wraps_whole(atom):
            if depth > 20:
                out.problems.append(f"{where}: parentheses nest too deeply")
                return
            _formula_part(atom[1:-1], where, out, depth + 1)
        elif atom.startswith("`"):
            if len(atom) < 2 or not atom.endswith("`") or "`" in atom[1:-1]:
                out.problems.append(f"{where}: malformed back-quoted name {atom!r}")
            else:
                out.columns.add(atom[1:-1])
        elif _NUMBER.match(atom):
            continue
        else:
            _python_expr(atom, where, out, formula_term=True)


# -- Python level (what formulaic would evaluate) -----------------------------------------
def _python_expr(text: str, where: str, out: FormulaCheck, formula_term: bool = False) -> None:
    if "{" in text or "}" in text:
        out.problems.append(f"{where}: '{{...}}' blocks run Python and are not allowed in "
                            f"config formulas; use the documented transforms")
        return
    quoted: dict[str, str] = {}
    if "`" in text:
        stripped = text.strip()
        if stripped.startswith("`") and stripped.endswith("`") and stripped.count("`") == 2:
            out.columns.add(stripped[1:-1])
            return
        if text.count("`") % 2:
            out.problems.append(f"{where}: malformed back-quoted name in {text!r}")
            return
        # back-quoted column names (R's `total.fruits`) inside calls: each stands in as a plain
        # name while the expression is checked, and is reported as the column it names
        text = _hold_quoted(text, quoted)
    found = FormulaCheck()
    _python_held(text, where, found, formula_term)
    out.problems += [_unhold(m, quoted) for m in found.problems]
    out.columns |= {quoted.get(c, c) for c in found.columns}


def _python_held(text: str, where: str, out: FormulaCheck, formula_term: bool) -> None:
    """The check of a Python expression without back-quoted names."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        out.problems.append(f"{where}: {text.strip()!r} is not a column, number or call of an "
                            f"allowed function ({', '.join(sorted(ALLOWED_FUNCTIONS))})")
        return
    body = tree.body
    if formula_term and not isinstance(body, (ast.Name, ast.Call, ast.Constant)):
        out.problems.append(f"{where}: term {text.strip()!r} must be a column, a number or a "
                            f"call like log(x); write arithmetic inside I(...)")
        return
    _walk(body, text.strip(), where, out, top=True)


def _hold_quoted(text: str, quoted: dict[str, str]) -> str:
    """``text`` with each back-quoted name replaced by a placeholder recorded in ``quoted``."""
    def hold(m: re.Match) -> str:
        key = f"interlace_quoted_{len(quoted)}"
        quoted[key] = m.group(1)
        return key

    return re.sub(r"`([^`]*)`", hold, text)


def _unhold(message: str, quoted: dict[str, str]) -> str:
    """A message about a held expression with its back-quoted names back in place."""
    for key, name in quoted.items():
        message = message.replace(key, f"`{name}`")
    return message


def _walk(node: ast.AST, text: str, where: str, out: FormulaCheck, top: bool = False) -> None:
    def bad(what: str) -> None:
        out.problems.append(f"{where}: {what} in {text!r} is not allowed in config formulas")

    if isinstance(node, ast.Name):
        if node.id.startswith("__") or node.id.endswith("__"):
            bad(f"the name {node.id!r}")
        elif node.id in ALLOWED_FUNCTIONS and node.id not in CONTRASTS:
            bad(f"the function name {node.id!r} without a call")
        elif node.id in CONTRASTS:
            return  # C(x, Sum)
        else:
            out.columns.add(node.id)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool)) and node.value is not None:
            bad(f"the constant {node.value!r}")
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            what = "attribute access" if isinstance(node.func, ast.Attribute) else "this call"
            bad(what)
            return
        name = node.func.id
        if name not in ALLOWED_FUNCTIONS or name == "offset":
            allowed = ", ".join(sorted(k for k in ALLOWED_FUNCTIONS if k != "offset"))
            out.problems.append(f"{where}: function {name!r} in {text!r} is not allowed in "
                                f"config formulas; allowed: {allowed}")
            return
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                bad("'*' unpacking")
                continue
            _walk(arg, text, where, out)
        for kw in node.keywords:
            if kw.arg is None:
                bad("'**' unpacking")
                continue
            _walk(kw.value, text, where, out)
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _BINOPS):
            bad(f"the operator {type(node.op).__name__}")
            return
        _walk(node.left, text, where, out)
        _walk(node.right, text, where, out)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, _UNARY):
            bad(f"the operator {type(node.op).__name__}")
            return
        _walk(node.operand, text, where, out)
    elif isinstance(node, ast.Compare):
        if not all(isinstance(op, _CMPOPS) for op in node.ops):
            bad("this comparison ('in', 'is')")
            return
        _walk(node.left, text, where, out)
        for c in node.comparators:
            _walk(c, text, where, out)
    elif isinstance(node, (ast.List, ast.Tuple)):
        for e in node.elts:
            _walk(e, text, where, out)
    elif isinstance(node, ast.Attribute):
        bad("attribute access")
    elif isinstance(node, ast.Subscript):
        bad("subscripting")
    else:
        bad(f"a {type(node).__name__} expression")
