"""docs/configs.md: its schema section is the rendered schema; its examples are true."""

from __future__ import annotations

import re
from pathlib import Path

from interlace.config import load, loads, render_markdown

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configs.md"
CONFIGS = ROOT / "configs"


def test_schema_section_is_the_rendered_schema():
    text = DOC.read_text()
    m = re.search(r"<!-- schema:begin -->\n(.*?)<!-- schema:end -->", text, flags=re.S)
    assert m, "docs/configs.md lost its schema markers"
    assert m.group(1) == render_markdown(), (
        "docs/configs.md is out of date: replace the schema section with `interlace schema`")


def test_yaml_examples_validate():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    for block in blocks:
        specs = loads(block, base_dir=CONFIGS)
        assert specs, block


def test_config_table_lists_every_shipped_config():
    text = DOC.read_text()
    for p in sorted(CONFIGS.glob("*.yaml")):
        assert f"`{p.name}`" in text, p.name
    assert len(load([CONFIGS])) == 9


def test_python_example_runs(tmp_path, monkeypatch):
    (block,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(block.replace('"configs/"', repr(str(CONFIGS))), str(DOC), "exec"), ns)  # noqa: S102
    assert ns["report"].counts == {"ok": 9}
    assert (tmp_path / "results" / "fits.csv").exists()
