"""Logging and progress for unattended runs.

Every log line carries a UTC timestamp; ``--log-format json`` writes one JSON object per line
for log shippers. Progress is a tqdm bar on a terminal and, when stderr is not a terminal
(cron), one log line at most every ``every`` seconds, so a log file shows how far a long run got.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tqdm import tqdm

log = logging.getLogger("maglabels.progress")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class UtcFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # log times in UTC

    def __init__(self) -> None:
        super().__init__("%(asctime)sZ %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")


def setup_logging(*, verbose: bool = False, fmt: str = "text") -> None:
    """Root logging to stderr with timestamps (text) or as JSON lines; replaces earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else UtcFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    log.setLevel(logging.INFO)  # progress lines are shown even without -v


class Progress:
    """``update(n)``: a tqdm bar on a terminal, else a periodic one-line log message."""

    def __init__(self, total: int | None, desc: str, *, every: float = 60.0,
                 tty: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.desc, self.every, self._clock = total, desc, every, clock
        self.done = 0
        self._start = self._last = clock()
        self._bar = tqdm(total=total, desc=desc, unit="label") if (sys.stderr.isatty() if tty is None else tty) else None

    def update(self, n: int = 1, **extra: object) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last >= self.every:
            self._last = now
            log.info("%s", self.line(**extra))

    def line(self, **extra: object) -> str:
        elapsed = max(self._clock() - self._start, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        rest = " ".join(f"{k}={v}" for k, v in extra.items())
        return f"{self.desc}: {self.done}{of} in {elapsed:.0f}s ({self.done / elapsed * 3600:.0f}/h) {rest}".rstrip()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
