"""Fit functions for the batch tests, importable by worker processes (local and Dask).

Each reads an instruction from the fit's ``description`` so that one batch can hold fits that
crash their worker, sleep, or run normally:

* ``crash-once:PATH``: kill the worker process (SIGKILL) unless PATH exists; create PATH first,
  so the retry succeeds;
* ``crash-always``: kill the worker process every time;
* ``sleep:SECONDS``: sleep, then fit;
* ``mark-sleep:DIR:SECONDS``: write a file named after the worker's pid into DIR, then sleep
  and fit (a test learns which processes are busy fitting).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from interlace.config import run_fit


def _instruction(spec) -> str:
    return str(spec.config.get("description", ""))


def instructed_fit(spec):
    text = _instruction(spec)
    if text.startswith("crash-once:"):
        marker = Path(text.split(":", 1)[1])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
    elif text == "crash-always":
        os.kill(os.getpid(), signal.SIGKILL)
    elif text.startswith("sleep:"):
        time.sleep(float(text.split(":", 1)[1]))
    elif text.startswith("mark-sleep:"):
        folder, seconds = text.split(":", 1)[1].rsplit(":", 1)
        (Path(folder) / str(os.getpid())).write_text(spec.name)
        time.sleep(float(seconds))
    return run_fit(spec)


def slow_fit(spec):
    """Every fit takes at least 0.25 s (to interrupt a batch halfway)."""
    time.sleep(0.25)
    return run_fit(spec)
