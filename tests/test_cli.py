"""The `interlace` command: run, validate, plugins, schema; `python -m interlace` unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import interlace
from interlace.cli import main, positive_seconds
from interlace.config import render_markdown

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
CBPP = CONFIGS / "cbpp_binomial.yaml"


def test_run_prints_the_summary_and_writes_json(tmp_path, capsys):
    out = tmp_path / "r" / "cbpp.json"
    assert main(["run", str(CBPP), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Generalized linear mixed model" in printed and "herd" in printed
    res = json.loads(out.read_text())
    assert res["status"] == "ok" and res["name"] == "cbpp_binomial"
    df = interlace.load_dataset("cbpp")
    r = interlace.glmer("incidence / size ~ period", df, "binomial", groups="herd",
                        weights=df["size"].values)
    got = res["result"]
    assert got["fit"]["llf"] == pytest.approx(r.llf, abs=1e-9)
    for term in r.fe_params.index:
        assert got["fixed_effects"][term]["estimate"] == pytest.approx(r.fe_params[term], rel=1e-9)
        assert got["fixed_effects"][term]["std_error"] == pytest.approx(r.fe_bse[term], rel=1e-9)
    assert got["variance_components"][0]["vcov"] == pytest.approx(
        float(r.variance_components["herd"].iloc[0, 0]), rel=1e-9)
    assert got["convergence"]["converged"] is True


def test_run_a_file_of_several_fits_and_pick_one(tmp_path, capsys):
    path = CONFIGS / "counts_nbinom2_vs_poisson.yaml"
    out = tmp_path / "both.json"
    assert main(["run", str(path), "--output", str(out), "--quiet"]) == 0
    both = json.loads(out.read_text())
    assert [b["name"] for b in both] == ["counts_nbinom2", "counts_poisson_site"]
    assert both[0]["result"]["fit"]["aic"] < both[1]["result"]["fit"]["aic"]
    assert main(["run", str(path), "--fit", "counts_nbinom2", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["result"]["family_params"] == {"theta": 2.0}
    assert main(["run", str(path), "--fit", "nope"]) == 2


def test_run_uses_output_path_of_the_config(tmp_path, capsys):
    cfg = tmp_path / "f.yaml"
    cfg.write_text(f"extends: {CBPP}\noutput: {{path: out/res.json, summary: false}}\n")
    assert main(["run", str(cfg)]) == 0
    assert "Generalized" not in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "res.json").read_text())["name"] == "f"


def test_run_exit_codes_for_failures_and_bad_configs(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {dataset: cbpp}\nformula: incidence ~ period\nfamly: poisson\n")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3: famly" in err and "did you mean 'family'" in err
    failing = tmp_path / "fail.yaml"
    failing.write_text("data: {dataset: seed_counts}\nformula: count ~ x1\nfamily: binomial\n"
                       "groups: site\n")
    assert main(["run", str(failing)]) == 1
    assert "DataError" in capsys.readouterr().err
    nonconv = tmp_path / "nc.yaml"
    nonconv.write_text(f"extends: {CBPP}\noptimizer_options: {{maxiter: 1}}\n")
    assert main(["run", str(nonconv), "-q"]) == 1


def test_validate(tmp_path, capsys):
    assert main(["validate", str(CONFIGS)]) == 0
    assert "ok: 9 fit(s) in 8 file(s)" in capsys.readouterr().out
    (tmp_path / "a.yaml").write_text("data: {dataset: cbpp}\nformula: incidence ~ {x}\n")
    (tmp_path / "b.yaml").write_text("data: {dataset: cbpp}\n")
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "a.yaml:2: formula" in err and "b.yaml:1: formula" in err


def test_plugins_and_schema(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("binomial", "nbinom2", "logit", "bobyqa", "laplace", "cbpp"):
        assert name in out
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["plugins"] == interlace.list_plugins()
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == render_markdown()


def test_plugins_shows_registered_names_sources_overrides_and_errors(capsys):
    """`interlace plugins` shows what the registry granted: a third-party family with its
    plugin, an explicit override, and a clash in the errors section (the built-in keeps it)."""
    from interlace import BinomialFamily, PoissonFamily, hookimpl
    from interlace.registry import registry

    class MyPoisson(PoissonFamily):
        name = "cli_poisson"
        aliases = ("cli-pois",)

    class MyBinomial(BinomialFamily):  # inherits the alias "bernoulli", which is not granted
        name = "cli_binomial"

    class Clasher(PoissonFamily):
        name = "binomial"

    class MyLogit(registry().get_class("link", "logit")):
        name = "logit"
        overrides = ("logit",)

    class Plugin:
        @hookimpl
        def interlace_families(self):
            return [MyPoisson, MyBinomial, Clasher]

        @hookimpl
        def interlace_links(self):
            return [MyLogit]

    try:
        registry().register(Plugin(), name="cli_test_pkg")
        with pytest.warns(interlace.InterlaceWarning, match="binomial"):
            assert main(["plugins"]) == 0
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if ln.startswith("  cli_poisson"))
        assert "(aliases: cli-pois)" in line and "third-party: cli_test_pkg" in line
        mine = next(ln for ln in out.splitlines() if ln.startswith("  cli_binomial"))
        assert "aliases" not in mine and "bernoulli" not in mine
        poisson = next(ln for ln in out.splitlines() if ln.startswith("  poisson "))
        assert "built-in: builtin_families" in poisson
        assert "overrides:\n  link 'logit': cli_test_pkg" in out
        errors = out.split("plugin errors")[1]
        assert "cli_test_pkg" in errors and "'binomial'" in errors
        assert main(["plugins", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        row = next(r for r in data["registered"]["family"] if r["name"] == "cli_poisson")
        assert row["source"] == "cli_test_pkg" and not row["builtin"]
        assert row["aliases"] == ["cli-pois"]
        assert any(e["entry_point"] == "cli_test_pkg" for e in data["errors"])
    finally:
        interlace.reload_plugins()
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "cli_poisson" not in out and "plugin errors" not in out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: interlace") and "batch" in err and "--version" in err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"interlace {interlace.__version__}"


@pytest.mark.parametrize("where", ["afile/r.json", "afile/sub/r.json"])
def test_run_output_that_cannot_be_created_fails_before_the_fit(tmp_path, capsys, monkeypatch,
                                                              where):
    import interlace.config.runner as runner

    def no_fit(*a, **k):
        raise AssertionError("the fit ran")

    monkeypatch.setattr(runner, "fit_config", no_fit)
    (tmp_path / "afile").write_text("")
    out = tmp_path / where
    assert main(["run", str(CBPP), "--output", str(out)]) == 2
    assert capsys.readouterr().err == (f"error: --output {out}: cannot write the result there: "
                                       f"{tmp_path / 'afile'} is a file, not a folder\n")
    assert main(["run", str(CBPP), "--output", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder; give a file name" in capsys.readouterr().err
    cfg = tmp_path / "f.yaml"
    cfg.write_text(f"extends: {CBPP}\noutput: {{path: afile/res.json}}\n")
    assert main(["run", str(cfg)]) == 2
    assert (f"error: f: output.path {tmp_path / 'afile' / 'res.json'}: cannot write the result "
            f"there: {tmp_path / 'afile'} is a file" in capsys.readouterr().err)


@pytest.mark.parametrize("value", ["-5", "0", "-0.5", "abc", "nan", "inf", ""])
def test_fit_timeout_must_be_a_positive_number(tmp_path, capsys, value):
    out = tmp_path / "res.csv"
    for argv in (["--fit-timeout", value], [f"--fit-timeout={value}"]):
        assert main(["batch", str(CBPP), "--out", str(out), *argv]) == 2
        err = capsys.readouterr().err
        assert (f"argument --fit-timeout: expected a positive number of seconds, got {value!r}"
                in err)
    assert not out.exists()
    assert positive_seconds("2.5") == 2.5
    # run has no time limit: the option is not one of its arguments
    assert main(["run", str(CBPP), "--fit-timeout", "5"]) == 2
    assert "unrecognized arguments: --fit-timeout 5" in capsys.readouterr().err


def _env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def test_console_script_and_python_m():
    exe = shutil.which("interlace", path=str(Path(sys.executable).parent))
    assert exe, "the interlace console script is not installed (pip install -e .)"
    p = subprocess.run([exe, "run", str(CBPP)], capture_output=True, text=True, timeout=120,
                       env=_env())
    assert p.returncode == 0, p.stderr
    assert "period[T.4]" in p.stdout
    q = subprocess.run([sys.executable, "-m", "interlace", "validate", str(CONFIGS)],
                       capture_output=True, text=True, timeout=120, env=_env())
    assert q.returncode == 0 and "ok: 9 fit(s)" in q.stdout


def test_python_m_interlace_without_arguments_is_the_demo():
    p = subprocess.run([sys.executable, "-m", "interlace"], capture_output=True, text=True,
                       timeout=120, env=_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Generalized linear mixed model fit by maximum likelihood")
    assert "Predicted incidence for an average herd, by period:" in p.stdout
    assert "  period 4:" in p.stdout
