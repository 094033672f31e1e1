"""Module-level caches (interlace/caches.py): every one named and bounded, all cleared at once,
none growing past its bound over many distinct models, and no unregistered ``lru_cache``."""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import interlace
from interlace import caches

PACKAGE = Path(interlace.__file__).parent


def _import_everything() -> None:
    for mod in pkgutil.walk_packages([str(PACKAGE)], prefix="interlace."):
        if mod.name != "interlace.__main__":
            importlib.import_module(mod.name)


def _declared() -> dict[str, tuple[int, str]]:
    """``bounded_cache("name", bound)`` decorators in the source: name -> (bound, where)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "bounded_cache" and path.name != "caches.py"):
                name, bound = (a.value for a in node.args[:2])
                assert name not in out, f"cache name {name!r} used twice"
                out[name] = (bound, f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return out


def test_every_cache_is_registered_with_a_finite_bound_and_a_purpose():
    _import_everything()
    declared = _declared()
    registered = caches.registered_caches()
    assert set(registered) == set(declared)
    assert len(declared) >= 9
    for name, cache in registered.items():
        assert cache.maxsize == declared[name][0], name
        assert isinstance(cache.maxsize, int) and 1 <= cache.maxsize <= 1024, name
        assert cache.purpose.strip(), f"cache {name} ({declared[name][1]}) says nothing of its purpose"
        assert f"``{name}``" in caches.__doc__, f"cache {name} is not in interlace/caches.py's table"
    assert set(interlace.cache_info()) == set(registered)
    assert all(info.maxsize == registered[n].maxsize for n, info in interlace.cache_info().items())


def test_bounded_cache_refuses_an_unbounded_cache():
    for bad in (None, 0, -1, True, 2.5):
        with pytest.raises(ValueError, match="positive integer bound"):
            caches.bounded_cache("test.bad", bad)
    with pytest.raises(ValueError, match="needs a name"):
        caches.bounded_cache("", 4)


def test_clear_caches_empties_every_cache():
    sleep = interlace.load_dataset("sleepstudy")
    interlace.fit("Reaction ~ Days + (Days | Subject)", sleep)
    info = interlace.cache_info()
    assert info["formula.parse"].size >= 1 and info["lmm.dense_layout"].size >= 1
    interlace.clear_caches()
    assert all(i.size == 0 and i.hits == 0 and i.misses == 0 for i in interlace.cache_info().values())
    fit = interlace.fit("Reaction ~ Days + (Days | Subject)", sleep)  # still works, refilling them
    assert fit.converged and interlace.cache_info()["formula.parse"].size == 1


def _formulas(n: int) -> list[str]:
    """n distinct LMM formulas over 12 covariates and 9 grouping factors of 4..12 levels (more
    shapes of the random terms than the dense-layout cache keeps)."""
    xs = [f"x{i}" for i in range(12)]
    subsets = itertools.chain.from_iterable(itertools.combinations(xs, k) for k in (1, 2, 3, 4))
    return [f"y ~ {' + '.join(s)} + (1 | g{4 + i % 9})" for i, s in zip(range(n), subsets)]


def test_caches_stay_within_their_bounds_over_300_distinct_fits():
    rng = np.random.default_rng(1)
    n = 72
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(12)})
    for L in range(4, 13):
        df[f"g{L}"] = [f"l{j % L}" for j in range(n)]
    df["y"] = df["x0"] + rng.normal(size=n) + (np.arange(n) % 5) * 0.5
    formulas = _formulas(300)
    assert len(set(formulas)) == 300
    interlace.clear_caches()
    peak: dict[str, int] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular fits on random data are fine here
        for f in formulas:
            interlace.fit(f, df)
            for name, info in interlace.cache_info().items():
                assert info.size <= info.maxsize, (name, f)
                peak[name] = max(peak.get(name, 0), info.size)
    bounds = {name: c.maxsize for name, c in caches.registered_caches().items()}
    for name in ("formula.parse", "fixed.simple_spec", "lmm.dense_layout"):  # full, then evicting
        assert peak[name] == bounds[name], (name, peak[name])


def _functools_cache_uses(path: Path) -> list[str]:
    """``lru_cache`` / ``functools.cache`` in one file, however imported."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "functools":
            found += [f"{path}:{node.lineno} imports {a.name}" for a in node.names
                      if a.name in ("lru_cache", "cache")]
        elif (isinstance(node, ast.Attribute) and node.attr in ("lru_cache", "cache")
              and isinstance(node.value, ast.Name) and node.value.id in ("functools", "ft")):
            found.append(f"{path}:{node.lineno} uses functools.{node.attr}")
        elif isinstance(node, ast.Name) and node.id == "lru_cache":
            found.append(f"{path}:{node.lineno} uses lru_cache")
    return found


def test_no_lru_cache_outside_caches_module():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "caches.py"
             or path.parent != PACKAGE for hit in _functools_cache_uses(path)]
    assert not found, "use interlace.caches.bounded_cache (named, bounded):\n" + "\n".join(found)
    assert _functools_cache_uses(PACKAGE / "caches.py")  # the scan does see a use


def test_the_scan_finds_every_spelling(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import functools\nfrom functools import cache, lru_cache as lc\n"
                   "@functools.lru_cache(None)\ndef f(): ...\n@functools.cache\ndef g(): ...\n")
    assert len(_functools_cache_uses(src)) == 4


def test_bounded_cache_wants_a_purpose():
    def undocumented(x):
        return x

    with pytest.raises(ValueError, match="say what it saves"):
        caches.bounded_cache("test.undocumented", 4)(undocumented)
    assert "test.undocumented" not in caches.registered_caches()
