"""The ``maglabels`` command's entry point: what must start before the CLI's imports, then the CLI.

An ingest of a large file parses in worker processes forked from a server that imports the
normaliser (``parse_server``). Started here, the server imports while this process imports the CLI
(pandas, DuckDB, pyarrow: ~0.5 s) instead of after it, and the first chunk is parsed that much sooner.
The arguments are only peeked at: click parses them, and ``ingest`` starts the server itself when
this guess missed it (it is started once either way)."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable

EARLY_WORKERS_BYTES = 1 << 20  # input files this large are read in more than one chunk


def ingest_paths(args: list[str]) -> list[str]:
    """What follows ``ingest`` in the command's arguments (a peek: click parses them)."""
    return args[args.index("ingest") + 1:] if "ingest" in args else []


def large_input(paths: Iterable[str | os.PathLike]) -> bool:
    """One of ``paths`` is a file of EARLY_WORKERS_BYTES or more."""
    for path in paths:
        try:
            if os.path.isfile(path) and os.path.getsize(path) >= EARLY_WORKERS_BYTES:
                return True
        except OSError:
            continue
    return False


def start_workers_for(paths: Iterable[str | os.PathLike]) -> None:
    """Start the parse workers' server when ``paths`` (an ingest's input) are large and workers are wanted."""
    if not large_input(paths):
        return
    from .settings import Settings, SettingsError

    try:
        if Settings.load().parse_workers:
            from . import parse_server

            parse_server.start()
    except SettingsError:  # the command itself reports it
        pass


def main() -> None:
    start_workers_for(ingest_paths(sys.argv[1:]))
    from .cli import main as cli_main

    cli_main()
