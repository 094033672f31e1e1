"""MkDocs hook: pages that are generated from the code, so they cannot drift from it.

* ``<!-- interlace:families-table -->`` becomes the table of registered built-in families
  (name, aliases, links, extra parameters and whether they are estimated), read from the
  plugin registry at build time.
* ``<!-- interlace:include PATH -->`` becomes the content of PATH (relative to the repository
  root) with its headings moved one level down, e.g. the measured tables of benchmarks/.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# Var(y | mu) for the families whose docstrings do not state it (per unit weight).
VARIANCE = {
    "binomial": "mu (1 - mu) / trials",
    "poisson": "mu",
    "gaussian": "sigma^2",
    "nbinom2": "mu + mu^2 / theta",
    "ordinal": "of the category index, from the threshold probabilities",
}


def _first_paragraph(doc: str | None) -> str:
    para = (doc or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in para.splitlines()).replace("|", "\\|")


def families_table() -> str:
    from interlace.registry import registry

    rows, seen = [], set()
    for cls in registry().classes("family").values():
        if cls in seen or not cls.__module__.startswith("interlace."):
            continue
        seen.add(cls)
        fam = cls()
        params = "; ".join(
            f"`{k}`: {p.description} ({'fixed at ' + str(p.value) if p.fixed else 'estimated'})"
            for k, p in fam.parameters.items()) or "none"
        doc = VARIANCE.get(cls.name) or _first_paragraph(cls.__doc__)
        aliases = ", ".join(f"`{a}`" for a in cls.aliases)
        links = ", ".join(f"`{ln}`" for ln in cls.links)
        canonical = f"`{cls.canonical_link}`" if cls.canonical_link else "none"
        rows.append(f"| `{cls.name}` | {aliases} | {doc} | {links} | {canonical} | {params} |")
    head = ("| family | aliases | variance / distribution | links (first = default) | canonical "
            "link | extra parameters (what is estimated) |\n|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(sorted(rows))


def include(path: str) -> str:
    text = (ROOT / path).read_text()
    return re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)


def on_page_markdown(markdown, page, config, files):
    markdown = markdown.replace("<!-- interlace:families-table -->", families_table())
    return re.sub(r"<!-- interlace:include (\S+) -->", lambda m: include(m.group(1)), markdown)


# -- figures: drawn at build time by the same calls docs/plots.md shows -----------------------
def figures() -> dict[str, object]:
    """The figures of docs/plots.md, keyed by their path in the site."""
    import matplotlib

    matplotlib.use("Agg")
    import interlace

    sleep = interlace.load_dataset("sleepstudy")
    lmm = interlace.fit("Reaction ~ Days + (Days | Subject)", sleep)
    cbpp = interlace.load_dataset("cbpp")
    glmm = interlace.glmer("incidence / size ~ period + (1 | herd)", cbpp, family="binomial")
    return {
        "img/caterpillar_sleepstudy.png": lmm.plot_caterpillar(),
        "img/caterpillar_cbpp.png": glmm.plot_caterpillar("herd", level=0.9),
        "img/fitted_sleepstudy.png": lmm.plot_fitted(),
        "img/residuals_sleepstudy.png": lmm.plot_residuals(),
        "img/residuals_cbpp.png": glmm.plot_residuals(type="deviance"),
    }


def on_files(files, config):
    import io

    import matplotlib.pyplot as plt
    from mkdocs.structure.files import File

    for path, fig in figures().items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        files.append(File.generated(config, path, content=buf.getvalue()))
    return files
