"""Progress of long tool runs (C-sim builds, RTL simulation, Yosys synthesis) on stderr.

One helper for all: :func:`progress` is a context manager. On a terminal it shows a tqdm
bar (when the count of work items is known) or a status line refreshed every second;
off a terminal (logs, CI) it prints a heartbeat line every ``LOG_EVERY_S`` so a log
shows the run is alive without flooding. ``--quiet``/``--json`` silence it
(:func:`set_quiet`). Nested calls show only the innermost, which says the most.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

TTY_EVERY_S = 1.0     # refresh of the live line on a terminal
LOG_EVERY_S = 30.0    # heartbeat interval in logs: sparse on purpose
_state = {"quiet": False}
_stack: list[Progress] = []
_lock = threading.Lock()


def set_quiet(quiet: bool) -> None:
    """Silence every progress display (the CLI's --quiet and --json)."""
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


class Progress:
    """What is running, how long it has run, and (if known) how many of ``total`` are done."""

    def __init__(self, what: str, total: int | None, tty: bool) -> None:
        self.what, self.total, self.done, self.tty = what, total, 0, tty
        self.t0 = time.monotonic()
        self._bar = _tqdm_bar(what, total) if tty and total else None

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def line(self) -> str:
        count = f" {self.done}/{self.total} done," if self.total else ""
        return f"[hwai]   {self.what}:{count} running for {time.monotonic() - self.t0:.0f} s"

    def tick(self) -> None:
        """Redraw (terminal) or print one heartbeat line (log)."""
        if self._bar is not None:
            self._bar.refresh()
        elif self.tty:
            print(f"\r{self.line()}\033[K", end="", file=sys.stderr, flush=True)
        else:
            print(self.line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.tty:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _tqdm_bar(what: str, total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"[hwai]   {what}", file=sys.stderr, leave=False,
                bar_format="{desc}: {n}/{total} |{bar}| {elapsed}")


@contextmanager
def progress(what: str, total: int | None = None, every: float | None = None) -> Iterator[Progress]:
    """Show progress of ``what`` while the body runs; ``update()`` the result per item done."""
    tty = _stderr_is_tty()
    prog = Progress(what, total, tty and not is_quiet())
    if is_quiet():
        yield prog
        return
    stop = threading.Event()
    ticker = threading.Thread(target=_tick, args=(prog, stop, every or (TTY_EVERY_S if tty else LOG_EVERY_S)),
                              daemon=True)
    with _lock:
        _stack.append(prog)
    ticker.start()
    try:
        yield prog
    finally:
        stop.set()
        ticker.join()
        with _lock:
            _stack.remove(prog)
        prog.close()


def _tick(prog: Progress, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        with _lock:  # decide and print together: a step pushed meanwhile waits for this line
            if _stack and _stack[-1] is prog:
                prog.tick()


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
