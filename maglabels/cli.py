"""The `maglabels` command: thin wiring of scrape -> archive -> normalize -> warehouse -> report.

Cron-friendly exit codes (also recorded as `scrape_runs.status`):
  0 ok       every document fetched and read (quarantined rows inside good documents are findings)
  1 failed   nothing loaded, the warehouse is as it was (one line on stderr, never a traceback)
  2 usage    bad arguments (click's own usage errors)
  3 partial  the run finished but some documents were lost (fetch errors, unreadable documents)
"""
from __future__ import annotations

import itertools
import logging
import sys
from pathlib import Path

import click

from . import pipeline
from .warehouse import db as warehouse_db
from .warehouse.load import finish_run, known_documents, load_batch, start_run
from .warehouse.report import range_report

DB_OPTION = click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                         help="DuckDB file (default: $MAGLABELS_DB, else data/maglabels.duckdb).")


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


class Failure(click.ClickException):
    """An expected failure: printed as one line, exit code 1."""

    def show(self, file=None) -> None:
        click.echo(f"maglabels: error: {self.message}", err=True)


def _progress() -> bool:
    return sys.stderr.isatty()


def _connect(db_path: Path | None):
    try:
        return warehouse_db.connect(db_path or warehouse_db.default_db_path())
    except warehouse_db.WarehouseError as exc:
        raise Failure(str(exc)) from None


# One transaction for all chunks (False): a failed run leaves the warehouse as it was, but DuckDB
# keeps the transaction's rows and PK index entries in memory (~90 MiB per 10,000 labels; a
# memory_limit makes it fail instead of spill). True: each chunk commits (growth about halved);
# only safe when `con` is a write session on a copy that is discarded on failure
# (warehouse.db.write_session), which is where this should be switched on.
PER_CHUNK_COMMITS = False


class _OneTransaction:
    """The connection with begin/commit made no-ops, so that every chunk ``load_batch`` writes lands
    in the caller's single transaction (a failed run leaves the warehouse as it was); rollback
    still rolls the whole transaction back. The lead can switch this for warehouse.db.write_session."""

    def __init__(self, con) -> None:
        self._con = con

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _stream_load(con, run_id: int, documents, counts: dict) -> None:
    """Normalise and load ``documents`` chunk by chunk inside the caller's transaction."""
    from .normalize.version import NORMALIZER_VERSION

    archive = pipeline.open_archive()
    tx = con if PER_CHUNK_COMMITS else _OneTransaction(con)
    with archive.bulk():  # the archive holds every body the warehouse names before the commit
        _stream_chunks(con, tx, archive, run_id, documents, counts, NORMALIZER_VERSION)


def _stream_chunks(con, tx, archive, run_id: int, documents, counts: dict, normalizer_version: str) -> None:
    for chunk in pipeline.stream_chunks(
            archive, documents, known=lambda shas: known_documents(con, shas, normalizer_version, run_id=run_id)):
        if len(chunk.batch.labels) or len(chunk.batch.quarantine) or chunk.records:
            stats = load_batch(tx, chunk.batch, run_id=run_id, documents_df=chunk.documents_df)
            counts["new_versions"] = counts.get("new_versions", 0) + stats.new_versions
        for problem in chunk.problems:
            click.echo(f"maglabels: warning: {problem.url}: {problem.reason}", err=True)
        for key, value in (("documents", chunk.documents), ("skipped", chunk.skipped),
                           ("labels", len(chunk.batch.labels)), ("facts", len(chunk.batch.magnesium_facts)),
                           ("magnesium_labels", len(chunk.batch.magnesium_labels)),
                           ("quarantined", len(chunk.batch.quarantine)), ("errors", len(chunk.problems))):
            counts[key] = counts.get(key, 0) + value


def _load(con, command: str, documents, *, extra_counts: dict | None = None, require_documents: bool = False) -> dict:
    """Normalise documents (archive records or files' documents) and load them, streamed in chunks,
    in ONE transaction; record the run either way. ``require_documents``: fail (warehouse
    unchanged) when not one document could be read."""
    run_id = start_run(con, command)
    counts = dict(extra_counts or {})
    lost_before = counts.get("errors", 0)
    if not PER_CHUNK_COMMITS:
        con.begin()
    try:
        _stream_load(con, run_id, documents, counts)
        if require_documents and counts.get("documents", 0) == counts.get("errors", 0) - lost_before:
            raise ValueError("nothing to ingest: no readable document")
        if not PER_CHUNK_COMMITS:
            con.commit()
    except Exception as exc:
        try:
            con.rollback()
        except Exception:  # noqa: BLE001 - load_batch may have rolled back already
            pass
        finish_run(con, run_id, "failed", {k: v for k, v in counts.items() if k == "errors"},
                   f"{type(exc).__name__}: {exc}")
        raise Failure(f"load failed, warehouse unchanged: {type(exc).__name__}: {exc}") from exc
    for key in ("documents", "skipped", "labels", "facts", "magnesium_labels", "quarantined", "new_versions"):
        counts.setdefault(key, 0)
    lost = counts["errors"] = counts.get("errors", 0)
    finish_run(con, run_id, "partial" if lost else "ok", counts, f"{lost} documents lost" if lost else None)
    click.echo(f"loaded {counts['labels']} labels ({counts['new_versions']} new versions), "
               f"{counts['magnesium_labels']} with magnesium, {counts['quarantined']} quarantined rows "
               f"from {counts['documents']} documents ({counts['skipped']} unchanged, skipped)"
               + (f"; {lost} documents lost" if lost else ""), err=True)
    return counts


def _exit_for(counts: dict) -> None:
    """Exit 3 (partial) when the run lost documents; 0 otherwise (the caller returns normally)."""
    if counts.get("errors"):
        click.get_current_context().exit(EXIT_PARTIAL)


def _scrape_dsld(offline: bool, limit: int | None, query: str | None, ingredient: str):
    from .scrapers.dsld import DEFAULT_QUERY, scrape_dsld
    from .scrapers.http import FetchError
    from .scrapers.replay import make_client

    archive = pipeline.open_archive()
    with make_client(offline=offline) as client:
        try:
            result = scrape_dsld(client, archive, query=query or DEFAULT_QUERY, ingredient=ingredient,
                                 limit=limit, progress=_progress())
        except FetchError as exc:
            raise Failure(f"cannot reach the DSLD API ({exc}); use --offline for the bundled labels") from None
    if not result.label_records and result.errors:
        first = result.errors[0]
        raise Failure(f"DSLD scrape fetched nothing: {first.url}: {first.status or ''} {first.reason}"
                      f"{'' if offline else '; use --offline for the bundled labels'}")
    for error in result.errors:
        click.echo(f"maglabels: warning: {error.what} {error.id or ''} {error.url}: {error.status or ''} {error.reason}", err=True)
    click.echo(f"archived {len(result.label_records)} DSLD labels ({len(result.errors)} errors)", err=True)
    return result


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """Real magnesium-supplement labels, converted to elemental magnesium, in DuckDB."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@cli.group()
def scrape() -> None:
    """Fetch raw documents into the archive."""


@scrape.command("dsld")
@click.option("--offline", is_flag=True, help="Replay the bundled real labels instead of the network.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Fetch at most this many labels.")
@click.option("--query", default=None, help="Search text (default: everything).")
@click.option("--ingredient", default="Magnesium", show_default=True, help="DSLD ingredient_name filter.")
@DB_OPTION
def scrape_dsld_cmd(offline, limit, query, ingredient, db_path) -> None:
    """Discover and fetch DSLD labels (search-filter paging, then label/{id})."""
    _connect(db_path).close()  # fail early on an unreadable database
    _scrape_dsld(offline, limit, query, ingredient)


@scrape.command("pages")
@click.argument("urls", nargs=-1)
@click.option("--seeds", "seed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file of product URLs, one per line (# comments).")
@click.option("--sitemap", default=None, help="A sitemap (or sitemap index) URL to take product URLs from.")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Hosts redirects may go to (default: the hosts of the given URLs).")
@DB_OPTION
def scrape_pages_cmd(urls, seed_file, sitemap, allow_hosts, db_path) -> None:
    """Fetch retailer/brand product pages politely into the archive, then normalise and load them."""
    from .scrapers.pages import scrape_pages

    if not (urls or seed_file or sitemap):
        raise click.UsageError("give product URLs, --seeds FILE or --sitemap URL")
    _connect(db_path).close()
    result = scrape_pages(pipeline.open_archive(), urls=urls, seed_file=seed_file, sitemap=sitemap,
                          allowed_hosts=set(allow_hosts) or None, progress=_progress())
    for skipped in result.skipped:
        click.echo(f"maglabels: skipped {skipped.url}: {skipped.reason}"
                   f"{' -> ' + skipped.target if skipped.target else ''}", err=True)
    for error in result.errors:
        click.echo(f"maglabels: warning: {error.url}: {error.status or ''} {error.reason}", err=True)
    if not result.records:
        raise Failure("no page fetched")
    with _connect(db_path) as con:
        counts = _load(con, "scrape pages", result.records,
                       extra_counts={"errors": len(result.errors), "skipped": len(result.skipped)})
    _exit_for(counts)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--url", default=None, help="Page URL for saved HTML pages without a canonical link.")
@DB_OPTION
def ingest(paths, url, db_path) -> None:
    """Load DSLD labels (v9 JSON files, flattened JSON Lines plain or .gz, JSON array shards;
    files or directories) or saved product pages. Streamed in chunks, loaded in one transaction;
    documents already loaded by the current normaliser version are skipped."""
    with _connect(db_path) as con:
        counts = _ingest(con, paths, url)
    _exit_for(counts)


def _ingest(con, paths, url) -> dict:
    from .scrapers.files import ingest_html, is_html_path, iter_documents

    html = [p for p in paths if is_html_path(p)]
    other = [p for p in paths if p not in html]
    documents: list = []
    if html:
        page_records, page_errors = ingest_html(html, pipeline.open_archive(), url=url)
        documents += page_records + page_errors
    return _load(con, "ingest", itertools.chain(documents, iter_documents(other) if other else ()),
                 require_documents=True)


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

    with _connect(db_path) as con:
        click.echo(corpus_markdown(con) if markdown else range_report(con))


@cli.command()
@click.option("--offline", is_flag=True, help="Use the bundled real data instead of the network.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Fetch at most this many DSLD labels.")
@click.option("--with-corpus/--no-corpus", default=True, show_default=True,
              help="Also load the bundled corpus of 731 real DSLD magnesium products.")
@DB_OPTION
def run(offline, limit, with_corpus, db_path) -> None:
    """scrape -> normalise -> load -> report, in one go (the nightly job)."""
    _connect(db_path).close()  # fail early, before any network work
    result = _scrape_dsld(offline, limit, None, "Magnesium")
    records = list(result.label_records)
    if with_corpus:
        records += pipeline.archive_flat_corpus(pipeline.open_archive())
    with _connect(db_path) as con:
        counts = _load(con, "run --offline" if offline else "run", records, extra_counts={"errors": len(result.errors)})
        click.echo(range_report(con))
    _exit_for(counts)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@DB_OPTION
def export(fmt, out_dir, db_path) -> None:
    """Write the analyst views as files (Parquet partitioned by source, or CSV)."""
    from .warehouse.export import export_views

    with _connect(db_path) as con:
        for path in export_views(con, out_dir, fmt=fmt):
            click.echo(str(path))


def main() -> None:
    cli(prog_name="maglabels")


if __name__ == "__main__":
    main()
