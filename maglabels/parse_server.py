"""The parse workers' fork server (``parsing.Parsers``), in a module that imports nothing heavy, so
the ``maglabels`` command can start it before importing the CLI (``launch``).

Workers fork from a server that has imported the normaliser once (~0.7 s: pandas, pint), never from
the main process: its loader and archive threads may hold locks."""
from __future__ import annotations

import multiprocessing
import multiprocessing.context

NORMALISER = ["maglabels.normalize.batch", "maglabels.normalize.flat_dsld", "maglabels.normalize.dsld_label"]


def context() -> multiprocessing.context.BaseContext:
    """A fork server that has imported the normaliser where the platform has one; else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(NORMALISER)
    return forkserver


def start() -> None:
    """Start the fork server now, so that it has imported the normaliser by the time the first
    chunk is read: for commands that know their input is large. Idempotent."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context()
        from multiprocessing import forkserver

        forkserver.ensure_running()
