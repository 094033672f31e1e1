"""The ``interlace`` command: run, batch and validate YAML fit configs; list plugins.

    interlace run CONFIG [--output result.json]
    interlace batch CONFIGS... --out results.csv [--workers N | --scheduler tcp://HOST:PORT]
    interlace validate CONFIGS...
    interlace plugins [--json]
    interlace schema
    interlace --version

Exit codes: 0 success; 1 a fit failed or did not converge (run) or a fit ended with an
error record (batch); 2 configs or arguments that do not validate; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import warnings
from pathlib import Path

EXIT_OK, EXIT_FIT, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


def _version() -> str:
    """The installed package's version (the source's when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("interlace")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        from interlace import __version__

        return __version__


def positive_seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds (argparse names the option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds, got {text!r} (omit the option for no limit)")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="interlace",
        description="Fit GLMMs described by YAML configs (see docs/configs.md).")
    p.add_argument("--version", action="version", version=f"interlace {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="fit the config(s) of one file and print the summary")
    r.add_argument("config", help="a YAML config file")
    r.add_argument("--output", "-o", help="write the result as JSON here (overrides output.path)")
    r.add_argument("--fit", help="run only the fit with this name (in a file of several fits)")
    r.add_argument("--quiet", "-q", action="store_true", help="do not print the summary")
    r.add_argument("--scheduler", help="fit on the Dask cluster at this address, tcp://HOST:PORT: "
                   "the data (a Parquet or CSV file, or a folder of Parquet files) is read "
                   "as a Dask DataFrame and stays on the workers (one fit spread over the "
                   "cluster)")

    b = sub.add_parser("batch", help="fit many configs; one record per fit; resumable")
    b.add_argument("configs", nargs="+", help="config files, folders or glob patterns")
    b.add_argument("--out", required=True,
                   help="results table: x.csv or x.parquet (records in x.jsonl beside it), "
                        "x.jsonl, or a folder")
    b.add_argument("--format", choices=("csv", "parquet"), help="table format (default: from --out)")
    b.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: CPU count; 0 = in this process)")
    b.add_argument("--scheduler", help="run on the Dask cluster at this address, tcp://HOST:PORT")
    b.add_argument("--retry-failed", action="store_true",
                   help="refit the fits whose record is an error")
    b.add_argument("--fit-timeout", type=positive_seconds, default=None,
                   help="stop a fit after this many seconds (local workers only)")
    b.add_argument("--keep-going", action="store_true",
                   help="record configs that do not validate as error records and run the valid "
                        "ones (default: report every problem and run nothing)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="bar", action="store_const", const=True,
                   help="progress bar even when not on a terminal")
    g.add_argument("--no-progress", dest="bar", action="store_const", const=False,
                   help="plain log lines even on a terminal")

    v = sub.add_parser("validate", help="check configs without fitting")
    v.add_argument("configs", nargs="+", help="config files, folders or glob patterns")
    v.add_argument("--quiet", "-q", action="store_true", help="print only problems")

    pl = sub.add_parser("plugins", help="list registered families, links, optimizers, "
                                        "integrators and shipped data sets")
    pl.add_argument("--json", action="store_true", help="as JSON")

    sub.add_parser("schema", help="print the config schema as Markdown (docs/configs.md)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` (default: the process's arguments); returns the exit code.
    Without a command it prints the help (to stderr) and returns 2."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version (0) or an argument error (2, printed)
        return EXIT_OK if done.code in (0, None) else EXIT_CONFIG
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_CONFIG
    try:
        return {"run": cmd_run, "batch": cmd_batch, "validate": cmd_validate,
                "plugins": cmd_plugins, "schema": cmd_schema}[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _load(paths):
    from interlace.config import ConfigError, load

    try:
        return load(paths)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def cmd_validate(args) -> int:
    specs = _load(args.configs)
    if specs is None:
        return EXIT_CONFIG
    if not args.quiet:
        files = len({s.source.split("#")[0] for s in specs})
        print(f"ok: {len(specs)} fit(s) in {files} file(s)")
    return EXIT_OK


def cmd_run(args) -> int:
    specs = _load([args.config])
    if specs is None:
        return EXIT_CONFIG
    if args.fit is not None:
        chosen = [s for s in specs if s.name == args.fit]
        if not chosen:
            print(f"{args.config}: no fit named {args.fit!r}; fits: "
                  f"{', '.join(s.name for s in specs)}", file=sys.stderr)
            return EXIT_CONFIG
        specs = chosen
    problem = _output_problem(args.output, specs)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if args.scheduler:
        return _run_on_cluster(args, specs)
    return _run_specs(args, specs)


def _run_on_cluster(args, specs) -> int:
    """``run --scheduler``: every fit of the file on the Dask cluster at that address."""
    try:
        from distributed import Client

        client = Client(args.scheduler, timeout=30)
    except Exception as exc:  # noqa: BLE001 - any connection failure is the user's to fix
        print(f"error: cannot connect to the Dask scheduler at {args.scheduler}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FIT
    with client:
        return _run_specs(args, specs, client)


def _run_specs(args, specs, client=None) -> int:
    """Fit each spec, print its summary and write its record (on ``client``'s cluster when
    given: the data read as a Dask DataFrame)."""
    from interlace.config import result_payload
    from interlace.config.data import load_dask_data
    from interlace.config.runner import clean, fit_config, status_of

    payloads, code = [], EXIT_OK
    for spec in specs:
        out_cfg = spec.config.get("output") or {}
        if len(specs) > 1 and not args.quiet:
            print(f"== {spec.name} ({spec.source})")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                data = (None if client is None
                        else load_dask_data(spec.config["data"], spec.base_dir))
                result = fit_config(spec.config, data=data, base_dir=spec.base_dir)
        except Exception as exc:  # noqa: BLE001 - reported as the fit's error
            print(f"error: {spec.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            payloads.append(clean({"name": spec.name, "key": spec.key, "status": "error",
                                   "message": f"{type(exc).__name__}: {exc}", "result": None}))
            code = EXIT_FIT
            continue
        for w in caught:
            print(f"warning: {w.category.__name__}: {w.message}", file=sys.stderr)
        if out_cfg.get("summary", True) and not args.quiet:
            print(result.summary_text())
        status, message = status_of(result)
        if status != "ok":
            code = EXIT_FIT
        payload = {"name": spec.name, "key": spec.key, "source": spec.source, "status": status,
                   "message": message, "config": spec.config,
                   "result": result_payload(result, bool(out_cfg.get("random_effects")))}
        payloads.append(clean(payload))
        if out_cfg.get("path") and not args.output:
            _write_json(Path(out_cfg["path"]), payloads[-1])
    if args.output:
        _write_json(Path(args.output), payloads[0] if len(payloads) == 1 else payloads)
    return code


def _output_problem(output: str | None, specs: list) -> str | None:
    """Why ``run`` could not write its result (``--output``, else each fit's ``output.path``),
    checked before any fit runs; None when every target can be written."""
    targets = [(f"--output {output}", Path(output))] if output else [
        (f"{s.name}: output.path {p}", Path(p))
        for s in specs if (p := (s.config.get("output") or {}).get("path"))]
    for what, path in targets:
        problem = unwritable(path)
        if problem:
            return f"{what}: cannot write the result there: {problem}"
    return None


def unwritable(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (its missing folders created first), or None:
    the path is a folder, a parent is a file, or the nearest existing folder is not writable."""
    if path.is_dir():
        return f"{path} is a folder; give a file name"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the folder {parent} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return None


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


def cmd_batch(args) -> int:
    from interlace.batch import load_keep_going, run_batch

    specs, invalid = load_keep_going(args.configs) if args.keep_going else (_load(args.configs), [])
    if specs is None:
        return EXIT_CONFIG
    if args.workers is not None and args.workers < 0:
        print("--workers must be >= 0", file=sys.stderr)
        return EXIT_CONFIG
    if args.scheduler and args.fit_timeout:
        print("--fit-timeout applies to local workers only", file=sys.stderr)
        return EXIT_CONFIG

    def on_term(signum, frame):  # a polite kill: stop like Ctrl-C, keeping finished records
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        report = run_batch(specs, args.out, workers=args.workers, scheduler=args.scheduler,
                           fmt=args.format, retry_failed=args.retry_failed,
                           fit_timeout=args.fit_timeout, bar=args.bar, invalid=invalid)
    except KeyboardInterrupt:
        print("interrupted: finished fits are saved; rerun the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        signal.signal(signal.SIGTERM, old)
    c = report.counts
    bad = f"{report.invalid} config(s) that do not validate, " if report.invalid else ""
    print(f"{report.total} fit(s): {c.get('ok', 0)} ok, {c.get('warning', 0)} warning, "
          f"{c.get('error', 0)} error ({bad}{report.ran} run now, {report.skipped} from before) in "
          f"{report.elapsed_s:.1f} s; table {report.table}, records {report.jsonl}",
          file=sys.stderr)
    return EXIT_FIT if report.failed else EXIT_OK


def _plugin_rows(reg, kind: str) -> list[dict]:
    """One row per registered class of ``kind``: the names and aliases the registry granted
    it (not those it merely inherits), where it comes from, and what it overrides."""
    by_class: dict[type, list] = {}
    table = reg.registrations(kind)
    for key in sorted(table):
        by_class.setdefault(table[key].cls, []).append(table[key])
    rows = []
    for cls, regs in by_class.items():
        name = str(cls.name).lower()
        source = regs[0].source
        rows.append({"name": name, "aliases": [r.name for r in regs if r.name != name],
                     "class": f"{cls.__module__}.{cls.__qualname__}",
                     "source": source.plugin, "builtin": source.builtin,
                     "overrides": {r.name: [str(s) for s in r.replaced] for r in regs
                                   if r.replaced},
                     "links": list(getattr(cls, "links", ()) or ()) if kind == "family" else []})
    return sorted(rows, key=lambda r: r["name"])


def _print_plugin_row(row: dict) -> None:
    extra = f"  (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
    if row["links"]:
        extra += f"  links: {', '.join(row['links'])}"
    origin = "built-in" if row["builtin"] else "third-party"
    print(f"  {row['name']}{extra}  [{origin}: {row['source']}; {row['class']}]")
    for name, replaced in row["overrides"].items():
        print(f"    overrides {name!r}: replaces {' and '.join(replaced)}")


def cmd_plugins(args) -> int:
    import interlace
    from interlace.datasets import available
    from interlace.registry import KINDS, registry

    reg = registry()
    errors = interlace.plugin_errors()
    rows = {kind: _plugin_rows(reg, kind) for kind in KINDS}
    if args.json:
        print(json.dumps({"plugins": interlace.list_plugins(),
                          "registered": rows,
                          "overrides": [str(r) for r in reg.overrides()],
                          "datasets": available(),
                          "errors": [{"entry_point": e.entry_point, "kind": e.kind,
                                      "error": e.error} for e in errors]}, indent=2))
        return EXIT_OK
    for kind in KINDS:
        print(f"{kind}:")
        for row in rows[kind]:
            _print_plugin_row(row)
    overrides = reg.overrides()
    if overrides:
        print("overrides:")
        for r in overrides:
            print(f"  {r}")
    print("datasets:")
    for d in available():
        print(f"  {d}")
    if errors:
        print("plugin errors (failed to load, broken contracts, name clashes):")
        for e in errors:
            print(f"  {e.entry_point}: {e.error}")
    return EXIT_OK


def cmd_schema(args) -> int:
    from interlace.config import render_markdown

    sys.stdout.write(render_markdown())
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
