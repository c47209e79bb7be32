"""A tiny progress bar for long management commands (no dependency)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, int], None]


def progress_bar(label: str, stream: TextIO | None = None, width: int = 30) -> Progress:
    """Return progress(done, total) that redraws one line on a terminal.

    On a non-terminal (CI logs, pipes) it prints a line at most every 10% so
    logs stay short but still show the command is alive.
    """
    out = stream or sys.stderr
    is_tty = hasattr(out, "isatty") and out.isatty()
    state = {"last_pct": -10, "started": time.monotonic()}

    def update(done: int, total: int) -> None:
        total = max(total, 1)
        done = min(done, total)
        pct = int(done * 100 / total)
        elapsed = time.monotonic() - state["started"]
        if is_tty:
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            out.write(f"\r{label:<22} [{bar}] {pct:3d}% ({done}/{total}) {elapsed:5.1f}s")
            if done >= total:
                out.write("\n")
            out.flush()
        elif pct >= state["last_pct"] + 10 or done >= total:
            state["last_pct"] = pct
            out.write(f"{label}: {pct}% ({done}/{total}) {elapsed:.1f}s\n")
            out.flush()

    return update
