"""The `maglabels` command: thin wiring of scrape -> archive -> normalize -> warehouse -> report.

Cron-friendly exit codes (also recorded as `scrape_runs.status`):
  0 ok       every document fetched and read (quarantined rows inside good documents are findings)
  1 failed   nothing loaded, the warehouse is as it was (one line on stderr, never a traceback)
  2 usage    bad arguments (click's own usage errors)
  3 partial  the run finished but some documents were lost (fetch errors, unreadable documents,
             search problems that can hide labels; see crawl_problems)
  4 rate_limited  the API quota stayed exhausted: what was fetched is loaded, the next run resumes
  5 locked   another nightly run (run / scrape dsld) holds the lock; this one did nothing
"""
from __future__ import annotations

import itertools
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import click

from . import launch, loading, pipeline
from .warehouse import db as warehouse_db
from .warehouse.report import range_report
from .warehouse.runs import finish_run, start_run
from .warehouse.session import WarehouseLocked, record_failed_run

DB_OPTION = click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                         help="DuckDB file or ducklake:sqlite:PATH / ducklake:postgres:CONNINFO "
                              "(default: $MAGLABELS_DB, else data/maglabels.duckdb).")


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_RATE_LIMITED, EXIT_LOCKED = 0, 1, 2, 3, 4, 5


class Failure(click.ClickException):
    """An expected failure: printed as one line, exit code 1."""

    def show(self, file=None) -> None:
        click.echo(f"maglabels: error: {self.message}", err=True)


def _progress() -> bool:
    return sys.stderr.isatty()


class _WriteSession:
    """``with _connect(db) as con``: a warehouse write session (warehouse/session.py): the live file
    is never opened for writing, so analysts' read-only sessions do not stop the job. A session
    that cannot write (lock timeout, disk full) is recorded in the pending-runs log and exits 1.
    ``_connect(db).close()`` only checks that the target can be written (fail early)."""

    def __init__(self, db_path: Path | str | None) -> None:
        self.target = str(db_path or warehouse_db.default_db_path())
        ctx = click.get_current_context(silent=True)
        self.command = (ctx.command_path.partition(" ")[2] or ctx.command_path) if ctx else "maglabels"
        self._session: AbstractContextManager | None = None

    def __enter__(self):
        session = self._session = warehouse_db.write_session(self.target, command=self.command)
        try:
            return session.__enter__()
        except WarehouseLocked as exc:
            record_failed_run(self.target, self.command, str(exc))
            raise Failure(str(exc)) from None
        except warehouse_db.WarehouseError as exc:
            raise Failure(str(exc)) from None

    def __exit__(self, *exc_info) -> bool:
        assert self._session is not None, "__exit__ without __enter__"
        try:
            return bool(self._session.__exit__(*exc_info))
        except warehouse_db.WarehouseError as exc:
            raise Failure(str(exc)) from None

    def close(self) -> None:
        try:
            warehouse_db.check_writable(self.target)
        except warehouse_db.WarehouseError as exc:
            raise Failure(str(exc)) from None


def _connect(db_path: Path | None) -> _WriteSession:
    return _WriteSession(db_path)


def _connect_readonly(db_path: Path | None):
    """A read-only connection for report/export/status; a database that does not exist is an error."""
    try:
        return warehouse_db.connect(db_path or warehouse_db.default_db_path(), read_only=True)
    except warehouse_db.WarehouseError as exc:
        raise Failure(str(exc)) from None


def _load(con, command: str, documents, *, extra_counts: dict | None = None, require_documents: bool = False) -> dict:
    """Normalise documents (archive records or files' documents) and load them, streamed in chunks
    (committed one by one on a write session's copy, which is published only on success; in one
    transaction on DuckLake), so a failed run leaves the warehouse as it was; record the run either way.
    ``require_documents``: fail (warehouse unchanged) when not one document could be read."""
    run_id = start_run(con, command)
    counts = dict(extra_counts or {})
    lost_before = counts.get("errors", 0)
    try:
        with loading.run_transaction(con):
            loading.load_documents(con, run_id, documents, counts)
            if require_documents and counts.get("documents", 0) == counts.get("errors", 0) - lost_before:
                raise ValueError("nothing to ingest: no readable document")
    except Exception as exc:
        finish_run(con, run_id, "failed", {k: v for k, v in counts.items() if k == "errors"},
                   f"{type(exc).__name__}: {exc}")
        raise Failure(f"load failed, warehouse unchanged: {type(exc).__name__}: {exc}") from exc
    for key in ("documents", "already_loaded", "labels", "facts", "magnesium_labels", "quarantined", "new_versions"):
        counts.setdefault(key, 0)
    lost = counts["errors"] = counts.get("errors", 0)
    finish_run(con, run_id, "partial" if lost else "ok", counts, f"{lost} documents lost" if lost else None)
    click.echo(f"loaded {counts['labels']} labels ({counts['new_versions']} new versions), "
               f"{counts['magnesium_labels']} with magnesium, {counts['quarantined']} quarantined rows "
               f"from {counts['documents']} documents ({counts['already_loaded']} already loaded, skipped)"
               + (f"; {lost} documents lost" if lost else ""), err=True)
    return counts


def _exit_for(counts: dict) -> None:
    """Exit 3 (partial) when the run lost documents; 0 otherwise (the caller returns normally)."""
    if counts.get("errors"):
        click.get_current_context().exit(EXIT_PARTIAL)


def _nightly_options(f):
    """Options shared by `run` and `scrape dsld` (the nightly job)."""
    for option in reversed([
        click.option("--offline", is_flag=True, help="Replay the bundled real labels instead of the network."),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="Fetch at most this many labels."),
        click.option("--base-url", default=None, help="DSLD API base (default: $MAGLABELS_DSLD_BASE_URL or NIH's)."),
        click.option("--requests-per-hour", type=click.IntRange(min=1), default=None,
                     help="Request rate (default: $MAGLABELS_DSLD_REQUESTS_PER_HOUR; 1,000, 10,000 with a key)."),
        click.option("--max-requests", type=click.IntRange(min=1), default=None,
                     help="Stop fetching after this many requests; the next run resumes."),
        click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Stop fetching after this many minutes; the next run resumes."),
        click.option("--refresh-days", type=click.IntRange(min=1), default=None,
                     help="Refetch labels older than this (default: $MAGLABELS_DSLD_REFRESH_DAYS or 30)."),
        DB_OPTION,
    ]):
        f = option(f)
    return f


def _nightly(command: str, *, offline, limit, base_url, requests_per_hour, max_requests, max_minutes,
             refresh_days, db_path, with_corpus=False, query=None, ingredient="Magnesium"):
    from . import nightly
    from .settings import Settings, SettingsError

    try:
        settings = Settings.load(db=str(db_path) if db_path else None, dsld_base_url=base_url,
                                 dsld_requests_per_hour=requests_per_hour, dsld_refresh_days=refresh_days)
    except SettingsError as exc:
        raise Failure(str(exc)) from None
    opts = nightly.NightlyOptions(
        command=command + (" --offline" if offline else ""), offline=offline,
        base_url=settings.dsld_base_url, api_key=settings.dsld_api_key,
        requests_per_hour=settings.requests_per_hour, max_requests=max_requests, max_minutes=max_minutes,
        refresh_days=settings.dsld_refresh_days, full_discovery_days=settings.dsld_full_discovery_days,
        page_size=settings.dsld_page_size, window=settings.dsld_result_window,
        query=query or "*", ingredient=ingredient, limit=limit, with_corpus=with_corpus,
        retry_statuses=settings.retry_statuses, retry_attempts=settings.dsld_retry_attempts)
    _connect(Path(settings.db_path)).close()  # fail early on an unreadable database, before any network work
    try:
        report = nightly.run_nightly(opts, db_path=settings.db_path, data_dir=settings.data_dir,
                                     archive=pipeline.open_archive(), progress_tty=_progress())
    except nightly.Locked as exc:
        click.echo(f"maglabels: {exc}; exiting", err=True)
        click.get_current_context().exit(EXIT_LOCKED)
    except WarehouseLocked as exc:  # an analyst cannot cause this (readers never block); another writer can
        record_failed_run(settings.db_path, opts.command, str(exc))
        raise Failure(str(exc)) from None
    except Exception as exc:  # recorded as 'failed'; crawl progress already saved is kept
        raise Failure(f"run failed, no labels loaded: {type(exc).__name__}: {exc}") from exc
    for error in report.errors[:20]:
        click.echo(f"maglabels: warning: {error.what} {error.id or ''} {error.url}: {error.status or ''} {error.reason}",
                   err=True)
    for p in report.problems:
        click.echo(f"maglabels: warning: search {p.partition}: {p.problem} ({p.detail})", err=True)
    c = report.counts
    click.echo(f"run {report.run_id} {report.status}: {c.get('fetched', 0)} labels fetched with "
               f"{c.get('requests', 0)} requests, {c.get('labels', 0)} labels loaded, {c.get('errors', 0)} lost"
               + (f"; stopped: {report.stopped}" if report.stopped else ""), err=True)
    return settings, report


def _exit_for_report(report) -> None:
    code = {"rate_limited": EXIT_RATE_LIMITED, "partial": EXIT_PARTIAL}.get(report.status, EXIT_OK)
    if code:
        click.get_current_context().exit(code)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines as timestamped text or as JSON objects (for log shippers).")
def cli(verbose: bool, log_format: str) -> None:
    """Real magnesium-supplement labels, converted to elemental magnesium, in DuckDB."""
    from .runlog import setup_logging

    setup_logging(verbose=verbose, fmt=log_format)


@cli.group()
def scrape() -> None:
    """Fetch raw documents into the archive."""


@scrape.command("dsld")
@_nightly_options
@click.option("--query", default=None, help="Search text (default: everything).")
@click.option("--ingredient", default="Magnesium", show_default=True, help="DSLD ingredient_name filter.")
def scrape_dsld_cmd(offline, limit, base_url, requests_per_hour, max_requests, max_minutes, refresh_days,
                    db_path, query, ingredient) -> None:
    """Discover and fetch DSLD labels that are due (the crawl frontier), then load them."""
    _, report = _nightly("scrape dsld", offline=offline, limit=limit, base_url=base_url,
                         requests_per_hour=requests_per_hour, max_requests=max_requests, max_minutes=max_minutes,
                         refresh_days=refresh_days, db_path=db_path, query=query, ingredient=ingredient)
    _exit_for_report(report)


@scrape.command("pages")
@click.argument("urls", nargs=-1)
@click.option("--seeds", "seed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file of product URLs, one per line (# comments).")
@click.option("--sitemap", default=None, help="A sitemap (or sitemap index) URL to take product URLs from.")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Hosts redirects may go to (default: the hosts of the given URLs).")
@click.option("--concurrency-per-host", "per_host", type=click.IntRange(min=1), default=None,
              help="Requests in flight per host (default: $MAGLABELS_CONCURRENT_REQUESTS_PER_HOST, else 2); "
                   "the per-host rate still applies.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=None,
              help="Larger pages are lost with reason body_too_large (default: $MAGLABELS_MAX_BODY_BYTES, else 20 MiB).")
@DB_OPTION
def scrape_pages_cmd(urls, seed_file, sitemap, allow_hosts, per_host, max_body_bytes, db_path) -> None:
    """Fetch retailer/brand product pages politely into the archive, then normalise and load them."""
    from .scrapers.http import client_options
    from .scrapers.pages import scrape_pages
    from .settings import Settings, SettingsError

    if not (urls or seed_file or sitemap):
        raise click.UsageError("give product URLs, --seeds FILE or --sitemap URL")
    try:
        settings = Settings.load(concurrent_requests_per_host=per_host, max_body_bytes=max_body_bytes)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    _connect(db_path).close()
    result = scrape_pages(pipeline.open_archive(), urls=urls, seed_file=seed_file, sitemap=sitemap,
                          allowed_hosts=set(allow_hosts) or None, per_host=settings.concurrent_requests_per_host,
                          progress=_progress(), **client_options(settings))
    for skipped in result.skipped:
        click.echo(f"maglabels: skipped {skipped.url}: {skipped.reason}"
                   f"{' -> ' + skipped.target if skipped.target else ''}", err=True)
    for error in result.errors:
        click.echo(f"maglabels: lost {error.url}: {error.status or ''} {error.reason}", err=True)
    click.echo(f"fetched {len(result.records) - result.unchanged} pages, {result.unchanged} unchanged (304), "
               f"{len(result.skipped)} skipped, {len(result.errors)} lost", err=True)
    if not result.records:
        raise Failure("no page fetched")
    with _connect(db_path) as con:
        counts = _load(con, "scrape pages", result.records,
                       extra_counts={"errors": len(result.errors), "skipped": len(result.skipped),
                                     "unchanged": result.unchanged})
    _exit_for(counts)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--url", default=None, help="Page URL for saved HTML pages without a canonical link.")
@DB_OPTION
def ingest(paths, url, db_path) -> None:
    """Load DSLD labels (v9 JSON files, flattened JSON Lines plain or .gz, JSON array shards;
    files or directories) or saved product pages. Streamed in chunks, loaded in one transaction;
    documents already loaded by the current normaliser version are skipped."""
    launch.start_workers_for(paths)  # when the `maglabels` entry point has not already
    with _connect(db_path) as con:
        counts = _ingest(con, paths, url)
    _exit_for(counts)


def _ingest(con, paths, url) -> dict:
    from .scrapers.dsld_bulk import is_zip_path
    from .scrapers.files import ingest_html, is_html_path, iter_documents

    html = [p for p in paths if is_html_path(p)]
    zips = [p for p in paths if is_zip_path(p)]
    other = [p for p in paths if p not in html and p not in zips]
    documents: list = []
    if html:
        page_records, page_errors = ingest_html(html, pipeline.open_archive(), url=url)
        documents += page_records + page_errors
    bulk: list = []  # (label id, archive record) of the zip members, for the frontier
    stream = itertools.chain(documents, iter_documents(other) if other else (), _zip_documents(zips, bulk))
    counts = _load(con, "ingest", stream, require_documents=True)
    if bulk:
        _bulk_into_frontier(con, bulk)
    return counts


def _zip_documents(zips, bulk: list):
    """The DSLD full-database download (zip of label JSON), streamed member by member."""
    from .scrapers.dsld_bulk import BulkProblem, archive_zip_labels
    from .scrapers.files import IngestError

    archive = pipeline.open_archive()
    for path in zips:
        problems: list[BulkProblem] = []
        for label_id, record in archive_zip_labels(path, archive, problems=problems):
            bulk.append((label_id, record))
            yield record
        yield from (IngestError(f"{path}!/{p.member}", p.reason) for p in problems)


def _bulk_into_frontier(con, bulk) -> None:
    """Bulk-loaded labels enter the crawl frontier as fetched and loaded: the crawl refreshes them."""
    from datetime import datetime

    from .scrapers import frontier

    outcomes = [frontier.Outcome(lid, datetime.fromisoformat(r.fetched_at).replace(tzinfo=None), content_hash=r.sha256)
                for lid, r in bulk]
    con.begin()
    frontier.record_outcomes(con, outcomes)
    frontier.mark_loaded(con, {o.label_id: o.content_hash for o in outcomes})
    con.commit()


@cli.command()
@DB_OPTION
def normalize(db_path) -> None:
    """Re-normalise every archived document (newest fetch per URL) into the warehouse.

    Documents already loaded by the current normaliser version (NORMALIZER_VERSION) are skipped."""
    records = pipeline.latest_documents(pipeline.open_archive())
    if not records:
        raise Failure(f"the archive at {pipeline.data_dir() / 'archive'} holds no documents; run `maglabels scrape dsld` first")
    with _connect(db_path) as con:
        counts = _load(con, "normalize", records)
    _exit_for(counts)


@cli.command()
@click.option("--markdown", is_flag=True, help="The corpus report as Markdown (the README's numbers).")
@DB_OPTION
def report(markdown, db_path) -> None:
    """Print the range report (products against 200-400 mg/day, the UL, flags)."""
    from .warehouse.corpus_report import corpus_markdown

    with _connect_readonly(db_path) as con:
        click.echo(corpus_markdown(con) if markdown else range_report(con))


@cli.command()
@_nightly_options
@click.option("--with-corpus/--no-corpus", default=True, show_default=True,
              help="Also load the bundled corpus of real DSLD magnesium products.")
def run(offline, limit, base_url, requests_per_hour, max_requests, max_minutes, refresh_days, db_path,
        with_corpus) -> None:
    """The nightly job: discover -> fetch what is due -> normalise -> load -> report."""
    settings, report = _nightly("run", offline=offline, limit=limit, base_url=base_url,
                                requests_per_hour=requests_per_hour, max_requests=max_requests,
                                max_minutes=max_minutes, refresh_days=refresh_days, db_path=db_path,
                                with_corpus=with_corpus)
    with _connect(Path(settings.db_path)) as con:
        click.echo(range_report(con))
    _exit_for_report(report)


def _status(as_json: bool, requests_per_hour, db_path) -> None:
    import json as _json

    from . import nightly
    from .settings import Settings

    settings = Settings.load(db=str(db_path) if db_path else None, dsld_requests_per_hour=requests_per_hour)
    if not Path(settings.db_path).exists():
        raise Failure(f"no warehouse at {settings.db_path}; run `maglabels run` first")
    try:
        info = nightly.crawl_status(settings.db_path, refresh_days=settings.dsld_refresh_days,
                                    requests_per_hour=settings.requests_per_hour)
    except warehouse_db.WarehouseError as exc:
        raise Failure(str(exc)) from None
    if as_json:
        click.echo(_json.dumps(info, sort_keys=True))
        return
    eta = info["eta_hours"]
    click.echo(f"discovered {info['discovered']} labels: {info['fetched']} fetched, {info['pending']} pending, "
               f"{info['failed']} failed ({info['gave_up']} given up), {info['due_refresh']} due for refresh, "
               f"{info['loaded']} loaded; {info['search_problems']} search problems recorded")
    click.echo(f"at {info['requests_per_hour']} requests/hour the rest takes about {eta:.1f} hours"
               f" (last fetch {info['last_fetch'] or 'never'}, last full discovery "
               f"{info['last_full_discovery'] or 'never'})")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object (discovered, fetched, pending, failed, ...).")
@click.option("--requests-per-hour", type=click.IntRange(min=1), default=None, help="Rate for the ETA.")
@DB_OPTION
def status(as_json, requests_per_hour, db_path) -> None:
    """How complete the crawl is, and how long the rest takes at the configured rate."""
    _status(as_json, requests_per_hour, db_path)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Write into a folder that is not empty (replacing earlier exports).")
@DB_OPTION
def export(fmt, out_dir, force, db_path) -> None:
    """Write the analyst views as files (Parquet partitioned by source, or CSV)."""
    from .warehouse.export import ExportError, export_views

    with _connect_readonly(db_path) as con:
        try:
            paths = export_views(con, out_dir, fmt=fmt, force=force)
        except ExportError as exc:
            raise Failure(str(exc)) from None
        for path in paths:
            click.echo(str(path))


def main() -> None:
    cli(prog_name="maglabels")


if __name__ == "__main__":
    main()
