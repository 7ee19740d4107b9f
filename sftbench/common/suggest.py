"""'Did you mean ...?' for unknown names."""

from __future__ import annotations

import difflib
from typing import Iterable


def unknown_name_message(kind: str, name: str, known: Iterable[str], cutoff: float = 0.4) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=cutoff)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} '{name}'.{hint} Known: {', '.join(known)}"
