"""The nightly DSLD job: lock, discover, fetch what is due, load, record the run.

One run, in order:
1. take the advisory lock (``<data_dir>/nightly.lock``, filelock) before any network work;
   a second overlapping run stops at once (``Locked``);
2. mark ``running`` rows of earlier nightly runs ``aborted`` (they died: we hold the lock),
   and bring the frontier up to date with the archive (labels a killed run fetched but did
   not record are taken from the durable archive, not fetched again);
3. discover: newest first until a page of known ids; every ``full_discovery_days`` (or
   while an earlier full discovery is unfinished) the partitioned full search, resumable
   partition by partition;
4. fetch the work queue (new ids, failures due for retry, labels past the refresh period)
   within the run's request/time budget, recording results in the frontier every
   ``flush_every`` labels or ``flush_seconds``;
5. load every fetched-but-not-loaded label (this run's and any a killed run left) and
   finish the run row: ``ok``, ``partial`` (labels lost), ``rate_limited`` (quota stayed
   exhausted; progress kept) or ``failed``.

All warehouse writes go through ``write`` (a ``warehouse.db.write_session`` each).
"""
from __future__ import annotations

import itertools
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from filelock import FileLock, Timeout

from . import loading, pipeline
from .runlog import Progress
from .scrapers import frontier
from .scrapers.archive import Archive, ArchiveRecord
from .scrapers.dsld import (
    SOURCE,
    Budget,
    ScrapeError,
    SearchConfig,
    SearchProblem,
    discover_partition,
    fetch_labels,
    partitions,
    utc_now,
    walk_search,
)
from .scrapers.http import QuotaExhausted, RetryPolicy
from .scrapers.replay import make_client
from .warehouse import db as warehouse_db
from .warehouse.runs import finish_run, start_run

log = logging.getLogger(__name__)

LOCK_FILE = "nightly.lock"
NETWORK_STRIKES = 3  # consecutive transport failures (no HTTP status) that mean the network is gone
NIGHTLY_COMMANDS = ("run", "run --offline", "scrape dsld", "scrape dsld --offline")
_LABEL_URL = re.compile(r"/label/([1-9][0-9]{0,11})$")


class Locked(Exception):
    """Another nightly run holds the lock."""


class _NetworkDown(Exception):
    pass


@dataclass(frozen=True)
class NightlyOptions:
    command: str = "run"
    offline: bool = False
    base_url: str = "https://api.ods.od.nih.gov/dsld/v9"
    api_key: str | None = None
    requests_per_hour: int = 1000
    max_requests: int | None = None
    max_minutes: float | None = None
    refresh_days: int = 30
    full_discovery_days: int = 28
    page_size: int = 1000
    window: int = 10_000
    query: str = "*"
    ingredient: str | None = "Magnesium"
    limit: int | None = None
    with_corpus: bool = False
    flush_every: int = 100
    flush_seconds: float = 30.0
    progress_every: float = 60.0
    retry_statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    retry_attempts: int = 5


@dataclass
class RunReport:
    run_id: int
    status: str
    counts: dict = field(default_factory=dict)
    errors: list[ScrapeError] = field(default_factory=list)
    problems: list[SearchProblem] = field(default_factory=list)
    stopped: str | None = None  # why the fetch stopped early (budget, quota)


@contextmanager
def write(db_path: str) -> Iterator:
    """The one way this module writes the warehouse: a write session (warehouse/session.py) works on
    a copy and publishes it atomically, so analysts' read-only sessions never stop the job."""
    with warehouse_db.write_session(db_path, command="run") as con:
        yield con


@contextmanager
def nightly_lock(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(data_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise Locked(f"another maglabels nightly run holds {data_dir / LOCK_FILE}") from None
    try:
        yield
    finally:
        lock.release()


def _archived_label_outcomes(archive: Archive) -> list[frontier.Outcome]:
    out = []
    for rec in archive.records(source=SOURCE, kind="label"):
        m = _LABEL_URL.search(rec.url.split("?")[0])
        if m:
            when = datetime.fromisoformat(rec.fetched_at.replace("Z", "+00:00"))
            out.append(frontier.Outcome(int(m.group(1)), when.replace(tzinfo=None) - (when.utcoffset() or timedelta()),
                                        content_hash=rec.sha256))
    return out


def _start(db_path: str, archive: Archive, command: str) -> int:
    with write(db_path) as con:
        for (run_id,) in con.execute(
            "SELECT run_id FROM scrape_runs WHERE status = 'running' AND command IN "
            f"({', '.join('?' * len(NIGHTLY_COMMANDS))})", list(NIGHTLY_COMMANDS)).fetchall():
            finish_run(con, run_id, "aborted", message="the process died (found by the next run)")
            log.warning("run %s was left 'running': marked aborted", run_id)
        con.begin()
        frontier.record_outcomes(con, _archived_label_outcomes(archive), only_newer=True)
        con.commit()
        return start_run(con, command)


class _Flusher:
    """Collects frontier updates; writes them every ``every`` items or ``seconds``."""

    def __init__(self, db_path: str, run_id: int, every: int, seconds: float) -> None:
        self.db_path, self.run_id, self.every, self.seconds = db_path, run_id, every, seconds
        self.outcomes: list[frontier.Outcome] = []
        self.discovered: set[int] = set()
        self.problems: list[SearchProblem] = []
        self.state: dict | None = None
        self._last = time.monotonic()

    def pending(self) -> int:
        return len(self.outcomes) + len(self.discovered) // 100 + len(self.problems)

    def maybe(self) -> None:
        if self.pending() >= self.every or time.monotonic() - self._last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not (self.outcomes or self.discovered or self.problems or self.state is not None):
            return
        now = utc_now()
        with write(self.db_path) as con:
            con.begin()
            frontier.add_discovered(con, self.discovered, now)
            frontier.record_outcomes(con, self.outcomes)
            for p in self.problems:
                frontier.note_problem(con, self.run_id, p.partition, p.problem, now=now,
                                      reported=p.reported, seen=p.seen, detail=p.detail)
            if self.state is not None:
                frontier.set_state(con, "full_discovery", self.state, now)
            con.commit()
        self.outcomes, self.discovered, self.problems, self.state = [], set(), [], None


def _discover(client, archive, cfg: SearchConfig, opts: NightlyOptions, db_path: str,
              flusher: _Flusher, budget: Budget, report: RunReport) -> None:
    with write(db_path) as con:
        known = frontier.known_ids(con)
        state = frontier.get_state(con, "full_discovery") or {}
    newest = walk_search(client, archive, cfg, key="newest", order="desc", stop_at_known=known, budget=budget)
    _take(newest, flusher, report)
    completed = state.get("completed_at")
    due = (not completed or state.get("done")
           or datetime.fromisoformat(completed) <= utc_now() - timedelta(days=opts.full_discovery_days))
    if not due or opts.limit is not None:
        return
    done: list[str] = list(state.get("done") or [])
    counts: dict[str, int] = dict(state.get("counts") or {})
    for key, extra in partitions():
        if key in done:
            continue
        if budget.exhausted():
            return
        walk = discover_partition(client, archive, cfg, key, extra, budget=budget)
        _take(walk, flusher, report)
        if not walk.complete:
            return  # budget ran out inside it: this partition is read again next run
        done.append(key)
        counts[key] = walk.count or 0
        flusher.state = {"completed_at": completed, "done": done, "counts": counts}
        flusher.maybe()
    total = sum(counts.values())
    if newest.count is not None and total < newest.count:
        p = SearchProblem("all partitions", "partitions_short", newest.count, total,
                          "labels outside the known product types/market statuses")
        report.problems.append(p)
        flusher.problems.append(p)
    flusher.state = {"completed_at": utc_now().isoformat(), "done": [], "counts": counts}


def _take(walk, flusher: _Flusher, report: RunReport) -> None:
    flusher.discovered.update(walk.ids)
    flusher.problems += walk.problems
    report.problems += walk.problems
    report.errors += walk.errors


def _fetch(client, archive, opts: NightlyOptions, db_path: str, flusher: _Flusher, budget: Budget,
           report: RunReport, progress_tty: bool | None) -> None:
    flusher.flush()  # discovered ids first, so the queue sees them
    with write(db_path) as con:
        queue = frontier.work_queue(con, utc_now(), refresh_days=opts.refresh_days, limit=opts.limit)
    bar = Progress(len(queue), "DSLD labels", every=opts.progress_every, tty=progress_tty)
    fetched = 0
    # transport failures are held back: if the network is gone they are not the labels' fault
    # and must not use up their attempts; if a good fetch follows, they count as attempts
    held: list[frontier.Outcome] = []

    def on_result(lid: int, outcome: ArchiveRecord | ScrapeError) -> None:
        nonlocal fetched
        if isinstance(outcome, ScrapeError):
            report.errors.append(outcome)
            failure = frontier.Outcome(lid, utc_now(), error=f"{outcome.status or ''} {outcome.reason}".strip())
            if outcome.status is None:
                held.append(failure)
                if len(held) >= NETWORK_STRIKES:
                    raise _NetworkDown(outcome.reason)
            else:
                flusher.outcomes.append(failure)
        else:
            fetched += 1
            flusher.outcomes += held
            held.clear()
            flusher.outcomes.append(frontier.Outcome(lid, utc_now(), content_hash=outcome.sha256))
        bar.update(errors=len(report.errors), requests=client.requests_sent)
        flusher.maybe()

    try:
        report.stopped = fetch_labels(client, archive, queue, base_url=opts.base_url, budget=budget, on_result=on_result)
        flusher.outcomes += held
    except QuotaExhausted as exc:
        report.status = "rate_limited"
        report.stopped = f"quota exhausted: {exc.reason}"
        log.warning("stopping: %s; progress is saved, the next run resumes", exc.reason)
    except _NetworkDown as exc:
        report.stopped = f"network unreachable ({NETWORK_STRIKES} transport failures in a row: {exc})"
        log.warning("stopping: %s; the labels keep their attempts, the next run resumes", report.stopped)
    finally:
        bar.close()
        flusher.flush()
    report.counts.update(queued=len(queue), fetched=fetched)


def _load(db_path: str, archive: Archive, report: RunReport, *, corpus: Iterable[ArchiveRecord]) -> None:
    """Load every fetched-but-not-loaded label (this run's and a killed run's) and the corpus,
    through the shared chunked load path; unchanged documents are skipped by content hash."""
    with write(db_path) as con:
        due = frontier.to_load(con)
        wanted = set(due.values())
        records = {r.sha256: r for r in archive.records(source=SOURCE, kind="label") if r.sha256 in wanted}
        counts: dict = {}
        try:
            with loading.run_transaction(con):
                problems = loading.load_documents(con, report.run_id, itertools.chain(records.values(), corpus),
                                                  counts, archive=archive)
        except Exception as exc:
            report.status = "failed"
            finish_run(con, report.run_id, "failed", report.counts, f"{type(exc).__name__}: {exc}")
            raise
        con.begin()
        frontier.mark_loaded(con, {lid: h for lid, h in due.items() if h in records})
        con.commit()
        lost = len(report.errors) + len(report.problems) + len(problems)
        report.counts.update(documents=counts.get("documents", 0), labels=counts.get("labels", 0),
                             facts=counts.get("facts", 0), quarantined=counts.get("quarantined", 0),
                             already_loaded=counts.get("already_loaded", 0), errors=lost,
                             new_versions=counts.get("new_versions", 0),
                             requests=report.counts.get("requests", 0), search_problems=len(report.problems))
        if report.status != "rate_limited":
            report.status = "partial" if lost else "ok"
        message = "; ".join(filter(None, [report.stopped, f"{lost} documents lost" if lost else None]))
        finish_run(con, report.run_id, report.status, report.counts, message or None)


def run_nightly(opts: NightlyOptions, *, db_path: str, data_dir: Path, archive: Archive,
                progress_tty: bool | None = None) -> RunReport:
    """One nightly run (see the module docstring). Raises ``Locked`` if another run is on."""
    with nightly_lock(data_dir):
        run_id = _start(db_path, archive, opts.command)
        report = RunReport(run_id=run_id, status="running")
        try:
            _crawl_and_load(opts, db_path, archive, report, progress_tty)
        except BaseException as exc:
            if report.status != "failed":  # _load records its own failure
                status = "aborted" if isinstance(exc, KeyboardInterrupt) else "failed"
                with write(db_path) as con:
                    finish_run(con, run_id, status, report.counts, f"{type(exc).__name__}: {exc}")
            raise
        log.info("run %s %s: %s", run_id, report.status, json.dumps(report.counts, sort_keys=True))
        return report


def _crawl_and_load(opts: NightlyOptions, db_path: str, archive: Archive, report: RunReport,
                    progress_tty: bool | None) -> None:
    cfg = SearchConfig(base_url=opts.base_url, query=opts.query, ingredient=opts.ingredient,
                       page_size=opts.page_size, window=opts.window)
    flusher = _Flusher(db_path, report.run_id, opts.flush_every, opts.flush_seconds)
    with make_client(opts.offline, api_key=opts.api_key, base_url=opts.base_url,
                     requests_per_hour=opts.requests_per_hour,
                     retry=RetryPolicy(attempts=opts.retry_attempts, statuses=opts.retry_statuses,
                                       long_quota_stops=True)) as client:
        deadline = time.monotonic() + opts.max_minutes * 60 if opts.max_minutes else None
        client.deadline = deadline
        budget = Budget(client, max_requests=opts.max_requests, deadline=deadline)
        try:
            _discover(client, archive, cfg, opts, db_path, flusher, budget, report)
        except QuotaExhausted as exc:
            report.status = "rate_limited"
            report.stopped = f"quota exhausted during discovery: {exc.reason}"
        flusher.flush()
        if report.status != "rate_limited":
            _fetch(client, archive, opts, db_path, flusher, budget, report, progress_tty)
        report.counts["requests"] = client.requests_sent
    corpus: list[ArchiveRecord] = []
    if opts.with_corpus:
        api_ids = {r.url.rsplit("/", 1)[-1] for r in archive.iter_records(source=SOURCE, kind="label")}
        corpus = pipeline.archive_flat_corpus(archive, skip_ids=api_ids)
    _load(db_path, archive, report, corpus=corpus)


def crawl_status(db_path: str, *, refresh_days: int, requests_per_hour: int) -> dict:
    con = warehouse_db.connect(db_path, read_only=True)
    try:
        return frontier.status(con, utc_now(), refresh_days=refresh_days, requests_per_hour=requests_per_hour)
    finally:
        con.close()
