"""The ``data:`` of a config: checking it without loading it, loading it, hashing it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from interlace.caches import bounded_cache
from interlace.config.messages import show, suggest
from interlace.errors import DataError

SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
                  ".pq": "parquet"}


def resolve_path(path: str, base_dir: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (Path(base_dir) / p)


def data_format(cfg: dict) -> str | None:
    fmt = cfg.get("format")
    if fmt:
        return fmt
    return SUFFIX_FORMATS.get(Path(cfg["path"]).suffix.lower())


def _columns(path: Path, fmt: str) -> list[str]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        if path.is_dir():  # a folder of Parquet files (a partitioned data set)
            return list(pq.ParquetDataset(path).schema.names)
        return list(pq.read_schema(path).names)
    return [str(c) for c in pd.read_csv(path, nrows=0, sep="\t" if fmt == "tsv" else ",").columns]


def check_data_source(cfg: dict, ctx) -> list[tuple[tuple, str]]:
    """Problems with a ``data:`` mapping already checked for types; records its columns in
    ``ctx.scratch['columns']`` for the checks of formula, groups, weights and offset."""
    from interlace.datasets import available, load_dataset

    out: list[tuple[tuple, str]] = []
    columns: list[str] | None = None
    if cfg.get("dataset") is not None:
        name = cfg["dataset"]
        if name not in available():
            return [(("dataset",), f"{name!r} is not a data set shipped with interlace; expected "
                                   f"one of {', '.join(available())}{suggest(name, available())}")]
        key = ("dataset", name)
        if key not in ctx.cache:
            ctx.cache[key] = [str(c) for c in load_dataset(name).columns]
        columns = ctx.cache[key]
    elif cfg.get("path") is not None:
        path = resolve_path(cfg["path"], ctx.base_dir)
        fmt = data_format(cfg)
        if fmt is None:
            return [(("path",), f"cannot tell the format of {cfg['path']!r} from its suffix; "
                                f"expected a suffix among {', '.join(SUFFIX_FORMATS)} or "
                                f"data.format: csv, tsv or parquet")]
        if not (path.is_file() or (fmt == "parquet" and path.is_dir())):
            what = "is a folder" if path.is_dir() else "does not exist"
            return [(("path",), f"got {show(cfg['path'])}: {path} {what}; expected a data file "
                                f"(relative paths are relative to the config's folder)")]
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                return [(("path",), "reading Parquet needs pyarrow: pip install 'interlace[parquet]'")]
        key = ("columns", str(path.resolve()), fmt)
        if key not in ctx.cache:
            try:
                ctx.cache[key] = _columns(path, fmt)
            except Exception as exc:  # noqa: BLE001 - any reader failure is a config problem
                ctx.cache[key] = exc
        if isinstance(ctx.cache[key], Exception):
            exc = ctx.cache[key]
            return [(("path",), f"cannot read {path} as {fmt}: {type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:200]}")]
        columns = ctx.cache[key]
    if columns is None:
        return out
    ctx.scratch["columns"] = columns
    for i, c in enumerate(cfg.get("factors") or []):
        if c not in columns:
            out.append((("factors", i), column_message(c, columns)))
    for c in cfg.get("where") or {}:
        if c not in columns:
            out.append((("where", c), column_message(c, columns)))
    return out


def column_message(col: str, columns: list[str]) -> str:
    shown = ", ".join(columns[:30]) + (", ..." if len(columns) > 30 else "")
    return f"column {col!r} is not in the data; expected one of {shown}{suggest(col, columns)}"


def load_data(cfg: dict, base_dir: Path | str = ".") -> pd.DataFrame:
    """The data frame a ``data:`` mapping describes (``where`` applied, ``factors`` declared)."""
    from interlace.datasets import load_dataset

    if cfg.get("dataset") is not None:
        df = load_dataset(cfg["dataset"])
    else:
        path = resolve_path(cfg["path"], Path(base_dir))
        fmt = data_format(cfg)
        if fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    for c, want in (cfg.get("where") or {}).items():
        values = want if isinstance(want, list) else [want]
        col = df[c]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            keep = col.isin(values)
        else:
            keep = col.astype(str).isin([str(v) for v in values])
        df = df[keep.to_numpy()]
        if len(df) == 0:
            raise DataError(f"no rows left after data.where {c} = {want!r}")
    return declare_factors(df, cfg.get("factors") or [])


def load_dask_data(cfg: dict, base_dir: Path | str = "."):
    """The ``data:`` of a config as a Dask DataFrame (``run --scheduler``): a Parquet file or
    folder, or a CSV / TSV file, read lazily on the workers. ``where`` and ``factors`` need
    the whole column and are not supported there."""
    import dask.dataframe as dd

    for key in ("where", "factors", "dataset"):
        if cfg.get(key):
            raise DataError(f"data.{key} is not supported when fitting on a Dask cluster "
                            f"(--scheduler): give a data file that needs no {key}")
    path = resolve_path(cfg["path"], Path(base_dir))
    fmt = data_format(cfg)
    if fmt == "parquet":
        return dd.read_parquet(str(path))
    return dd.read_csv(str(path), sep="\t" if fmt == "tsv" else ",")


def _label(v) -> str:
    """A number's factor label: integral values without a trailing ".0" (a column of integers
    with a missing value is read as floats)."""
    return str(int(v)) if float(v).is_integer() else str(v)


def declare_factors(df: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """The ``factors`` columns as categoricals of text labels (numbers in numeric order, as R's
    ``factor()``), and every categorical without the levels ``where`` left unused."""
    df = df.copy()
    for c in factors:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            continue
        values = pd.unique(s.dropna())
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        order = sorted(values) if numeric else sorted(str(v) for v in values)
        labels = [_label(v) if numeric else str(v) for v in order]
        df[c] = pd.Categorical(s.where(s.isna(), s.astype(str)) if not numeric else
                               s.map(dict(zip(order, labels))), categories=labels)
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].cat.remove_unused_categories()
    return df


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, cached by path, size and modification time."""
    st = path.stat()
    return _digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


@bounded_cache("config.file_digest", 256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a data file, once per (path, size, modification time): a batch's fits share it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
