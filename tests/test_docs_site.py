"""The documentation site (mkdocs.yml, docs/): every Python block of every page runs, and the
site builds with warnings as errors (``mkdocs build --strict``), API reference included.

Blocks of one page share a namespace and run in order, as a reader would run them. Pages with
their own tests (quickstart: test_docs.py; clmm, configs: their tests) run here too, so that a
page added to the site is never left unexecuted.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from test_example_plugin import installed  # noqa: F401 - the fixture installing the plugin

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
               if not p.relative_to(DOCS).parts[0].startswith("_"))
FENCE = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)


def _blocks(page: str) -> list[str]:
    return FENCE.findall((DOCS / page).read_text())


@pytest.fixture(autouse=True)
def _agg_backend():
    import matplotlib

    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, request, monkeypatch):
    blocks = _blocks(page)
    if '"poilog"' in "".join(blocks):  # pages using the example plugin by name need it installed
        request.getfixturevalue("installed")
    monkeypatch.chdir(ROOT)  # pages refer to configs/ and examples/ from the repository root
    ns: dict = {"__name__": f"docs_{Path(page).stem}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(compile(block, str(DOCS / page), "exec"), ns)  # noqa: S102 - our own docs


def test_every_page_is_in_the_site_and_new_pages_have_examples():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert page in nav, f"docs/{page} is not in mkdocs.yml's nav"
    for page in ("index.md", "lmm.md", "families.md", "plots.md", "from-r.md", "plugins.md"):
        assert _blocks(page), page


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_site_builds_strict_with_api_reference(site):
    api = (site / "api" / "fitting" / "index.html").read_text()
    for name in ("glmer", "fit", "clmm", "anova"):
        assert f'id="interlace.{name}"' in api, name
    assert "Fit a GLMM by maximum likelihood" in api  # rendered from the docstring
    results = (site / "api" / "results" / "index.html").read_text()
    for name in ("GLMMResult", "LMMResult", "CLMMResult", "plot_caterpillar"):
        assert name in results, name
    plugins = (site / "api" / "plugins" / "index.html").read_text()
    for name in ("Family", "Link", "Integrator", "Optimizer", "FamilyParameter"):
        assert f'id="interlace.{name.lower()}' in plugins.lower() or name in plugins, name


def test_generated_pages(site):
    import interlace

    families = (site / "families" / "index.html").read_text()
    # ("ordinal" is no longer listed: the cumulative link model is clmm()'s own response
    # model, not a registered glmer family)
    for name in ("binomial", "poisson", "gaussian", "nbinom2"):
        assert f"<code>{name}</code>" in families, name
    assert "<td><code>ordinal</code></td>" not in families
    assert "interlace:families-table" not in families
    perf = (site / "performance" / "index.html").read_text()
    bench = (ROOT / "benchmarks" / "README.md").read_text()
    first_row = next(line for line in bench.splitlines() if line.startswith("| cbpp"))
    assert first_row.split("|")[3].strip().strip("*") in perf  # the measured interlace time
    for img in ("caterpillar_sleepstudy", "caterpillar_cbpp", "fitted_sleepstudy",
                "residuals_sleepstudy", "residuals_cbpp"):
        png = site / "img" / f"{img}.png"
        assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG", img
    assert interlace.plugin_errors() == []
