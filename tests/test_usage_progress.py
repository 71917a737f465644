"""`modeldesk usage import`'s progress bar (core.terminal): drawn on a terminal (a real pty
here), nothing at all on a pipe or a captured stream."""

from __future__ import annotations

import io
import os
import pty
import sys
import threading

from core.terminal import ProgressBar
from core.usage import formats
from tests.test_usage_import import CSV, NOW, run, seeded, write  # noqa: F401 (fixtures)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_draws_on_a_terminal_throttled_and_erases_itself():
    out = Terminal()
    with ProgressBar(out, interval=3600) as bar:
        bar("checking", 0, 4)
        bar("checking", 1, 4)  # within the interval: not drawn
        bar("checking", 4, 4)  # the end of a phase: always drawn
        assert out.getvalue().count("\r") == 2
        assert "checking [" + "#" * 30 + "] 4/4 report(s)" in out.getvalue()
    assert out.getvalue().endswith("\r\x1b[K")


def test_the_bar_writes_nothing_off_a_terminal():
    out = io.StringIO()
    with ProgressBar(out) as bar:
        bar("storing", 1, 2)
        bar("storing", 2, 2)
    assert out.getvalue() == ""


def test_import_tells_progress_per_batch(seeded, monkeypatch):  # noqa: F811
    monkeypatch.setattr(formats, "STEP", 2)
    told = []
    with seeded.sessions.begin() as s:
        formats.import_text(s, CSV, now=NOW, progress=lambda *a: told.append(a))
    assert told == [("checking", 2, 3), ("checking", 3, 3), ("storing", 2, 3), ("storing", 3, 3)]


def test_no_bar_when_stderr_is_not_a_terminal(run, tmp_path):  # noqa: F811
    code, out, err = run("usage", "import", write(tmp_path, "usage.csv", CSV))
    assert (code, err) == (0, "") and "3 stored" in out


def test_a_bar_on_a_terminal(run, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(formats, "STEP", 1)
    path = write(tmp_path, "usage.csv", CSV)
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w", encoding="utf-8", buffering=1)
    seen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    monkeypatch.setattr(sys, "stderr", terminal)
    try:
        code, out, _ = run("usage", "import", path)
    finally:
        monkeypatch.setattr(sys, "stderr", sys.__stderr__)
        terminal.close()
        reader.join(timeout=10)
        os.close(master)
    shown = seen.decode("utf-8")
    assert code == 0 and "3 stored" in out
    assert "storing  [" + "#" * 30 + "] 3/3 report(s)" in shown
    assert shown.endswith("\r\x1b[K")  # erased before the summary line
