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
