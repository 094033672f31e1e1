"""Every Python block of docs/quickstart.md runs as written (blocks share one namespace)."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "quickstart.md"


def test_quickstart_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    ns: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), ns)  # noqa: S102 - our own documentation
    assert ns["result"].converged


def test_readme_examples_run():
    """README's usage blocks run as written (the plugin sketch with '...' bodies is skipped)."""
    readme = DOC.parent.parent / "README.md"
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
              if "..." not in b]
    assert len(blocks) >= 2
    ns: dict = {}
    for block in blocks:
        exec(compile(block, str(readme), "exec"), ns)  # noqa: S102 - our own documentation
    assert ns["lmm"].converged and ns["ord_fit"].converged and ns["agq"].nAGQ == 25
