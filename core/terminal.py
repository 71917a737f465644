"""A progress bar for long commands, drawn only on a terminal.

``ProgressBar(stream)`` is a ``progress(phase, done, total)`` callback: on a terminal
(``stream.isatty()``) it redraws one line in place,
``checking [#######.......] 7,000/14,000 report(s)``, at most every ``interval`` seconds
and always at the end of a phase, then erases the line when closed, so the command's own
output follows on a clean line. Anywhere else (a pipe, a file, a test's captured stream) it
writes nothing at all.
"""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30  # characters of the bar itself


class ProgressBar:
    """A progress callback that draws on a terminal and is silent elsewhere."""

    def __init__(self, stream: TextIO, *, unit: str = "report(s)", interval: float = 0.1) -> None:
        self.stream = stream
        self.unit = unit
        self.interval = interval
        self.active = _is_terminal(stream)
        self.drawn = False
        self._last = float("-inf")  # the first call draws

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        filled = WIDTH * done // total if total else WIDTH
        bar = "#" * filled + "." * (WIDTH - filled)
        self.stream.write(f"\r{phase:<8} [{bar}] {done:,}/{total:,} {self.unit}\x1b[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Erase the bar's line (nothing to do when nothing was drawn)."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
