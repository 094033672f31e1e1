"""How config problems quote values and suggest names: shared by the schema, the loader and the
data checks (a module of its own so that they need not import one another)."""

from __future__ import annotations

import difflib
from typing import Any


def show(value: Any, limit: int = 80) -> str:
    """A value as it appears in an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def suggest(word: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest of ``choices``, or ''."""
    if not isinstance(word, str):
        return ""
    pool = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(word.lower(), list(pool), n=1, cutoff=0.6)
    return f"; did you mean {pool[close[0]]!r}?" if close else ""
