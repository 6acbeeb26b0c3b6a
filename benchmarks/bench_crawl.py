"""Page crawling on real 4 MB product pages: pages/s and peak RSS, flat in the number of pages?

    python benchmarks/bench_crawl.py [--pages 500 2000] [--concurrency 1 8] [--baseline-pages 100 200]
                                     [--scrapy-python /path/to/python-with-scrapy]

A loopback server (its own process) serves N distinct pages built from the real iHerb pages
(`../shared/realdata/pages/*.html`, else the gzipped copies in tests/golden/www.iherb.com): page i is
real page i % 2 with one comment carrying i inserted after <head>, so every body is 3.4-4.0 MB
and has its own sha256 (no dedup shortcut). Each crawl runs in a fresh process so its peak RSS
(ru_maxrss) is its own. Modes:

- ``maglabels``: `scrape_pages` (robots.txt, allow-list, per-host limiter with no delay,
  ``--concurrency`` pages in flight per host) into an append-only raw segment sink with the
  Archive API (sha256 + one file; what is left on the fetch path once the ingest slice moves
  compression off it);
- ``maglabels+archive``: the same into today's `Archive` (gzip-9 per body inside put, on the
  fetching threads): shows what the archive's compression costs while it is still there;
- ``baseline``: the previous design in this process (one request in flight per host, an
  unbounded queue of responses, gzip-9 archiving on the consuming thread); run at small N;
- ``scrapy``: Scrapy with CONCURRENT_REQUESTS_PER_DOMAIN = ``--concurrency``, DOWNLOAD_DELAY 0,
  ROBOTSTXT_OBEY, writing each body to the same kind of raw segment (needs Scrapy: the ``bench``
  extra, or ``--scrapy-python`` naming an interpreter that has it). Without Scrapy the figure
  from issue 13 (58 pages/s on the same pages, 2-core machine) is printed for reference.

Also a re-crawl of the same pages (ETag -> 304): nothing is downloaded or stored again.
Figures are printed (and ratios against the baseline / Scrapy run in the same invocation),
never asserted.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL_PAGES = ROOT.parent / "shared" / "realdata" / "pages"  # ../shared beside the checkout
SCRAPY_ISSUE_FIGURE = 58.0  # pages/s, issue 13 (same 4 MB pages, loopback, 2-core machine)


# ----------------------------------------------------------------------------- the pages


def load_real_pages() -> list[bytes]:
    pages = sorted(REAL_PAGES.glob("*.html"))
    if pages:
        return [p.read_bytes() for p in pages]
    return [gzip.decompress(p.read_bytes()) for p in sorted((ROOT / "tests/golden/www.iherb.com").glob("*/page.html.gz"))]


def serve(port_file: Path) -> None:
    """Serve /p/<i> (distinct 4 MB pages with an ETag), 404 for robots.txt, until killed."""
    pages = load_real_pages()
    split = [(p[: p.index(b"<head>") + 6], p[p.index(b"<head>") + 6 :]) for p in pages]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            if not self.path.startswith("/p/"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            i = int(self.path[3:])
            etag = f'"bench-{i}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            head, tail = split[i % len(split)]
            marker = f"<!-- bench page {i} -->".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(head) + len(marker) + len(tail)))
            self.end_headers()
            self.wfile.write(head)
            self.wfile.write(marker)
            self.wfile.write(tail)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64

    httpd = Server(("127.0.0.1", 0), Handler)
    port_file.write_text(str(httpd.server_address[1]))
    httpd.serve_forever()


# ----------------------------------------------------------------------------- sinks


class RawSegment:
    """Append-only segment: sha256 + bytes to one file under a lock (no compression)."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "ab")
        self._lock = threading.Lock()

    def write(self, body: bytes) -> str:
        sha = hashlib.sha256(body).hexdigest()
        with self._lock:
            self._fh.write(len(body).to_bytes(8, "little") + sha.encode() + body)
        return sha

    def close(self) -> None:
        self._fh.close()


def raw_archive(root: Path):
    """An Archive whose put() appends to a RawSegment (the Archive API, compression left out)."""
    from maglabels.scrapers.archive import Archive, ArchiveRecord
    from maglabels.scrapers.redact import redact_headers

    class RawArchive(Archive):
        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.segment = RawSegment(self.root / "segment.raw")
            self._records: list[ArchiveRecord] = []

        def put(self, url, status, headers, body, *, source, kind, fetched_at=None):
            sha = self.segment.write(body)
            rec = ArchiveRecord(sha256=sha, url=url, status=status, headers=redact_headers(headers),
                                fetched_at="", source=source, kind=kind, size=len(body), path="segment.raw")
            with self._lock:
                self._records.append(rec)
            return rec

        def records(self, source=None, kind=None):
            return [r for r in self._records if (source is None or r.source == source) and (kind is None or r.kind == kind)]

    return RawArchive(root)


# ----------------------------------------------------------------------------- crawlers (one per process)


def crawl_maglabels(urls: list[str], concurrency: int, out: Path, *, real_archive: bool) -> dict:
    from maglabels.scrapers.archive import Archive
    from maglabels.scrapers.http import RetryPolicy, Timeouts
    from maglabels.scrapers.pages import scrape_pages

    archive = Archive(out) if real_archive else raw_archive(out)
    kw = dict(rate=None, retry=RetryPolicy(attempts=2), timeouts=Timeouts(10, 30), progress=False, per_host=concurrency)
    start = time.perf_counter()
    first = scrape_pages(archive, urls=urls, **kw)
    elapsed = time.perf_counter() - start
    rss_first = peak_rss_mb()
    start = time.perf_counter()
    again = scrape_pages(archive, urls=urls, **kw)  # conditional: every page answers 304
    recrawl = time.perf_counter() - start
    return {"ok": len(first.records), "errors": len(first.errors), "seconds": elapsed,
            "recrawl_seconds": recrawl, "recrawl_unchanged": again.unchanged, "rss_mb": rss_first}


def crawl_baseline(urls: list[str], out: Path) -> dict:
    """The previous pages path: one request per host in flight, unbounded response queue,
    each body archived (gzip-9) on the consuming thread."""
    import queue

    from maglabels.scrapers.archive import Archive
    from maglabels.scrapers.http import RetryPolicy, Timeouts
    from maglabels.scrapers.pages import make_pages_client

    archive = Archive(out)
    results: queue.Queue = queue.Queue()  # unbounded, as it was
    start = time.perf_counter()
    with make_pages_client(None, rate=None, retry=RetryPolicy(attempts=2), timeouts=Timeouts(10, 30),
                           max_body_bytes=None) as client:
        def fetch_all() -> None:
            for url in urls:
                results.put(client.get(url))

        fetcher = threading.Thread(target=fetch_all)
        fetcher.start()
        for _ in urls:
            resp = results.get()
            archive.put(str(resp.url), resp.status_code, resp.headers.multi_items(), resp.content,
                        source="bench", kind="page")
        fetcher.join()
    return {"ok": len(urls), "errors": 0, "seconds": time.perf_counter() - start, "rss_mb": peak_rss_mb()}


def crawl_scrapy(urls: list[str], concurrency: int, out: Path) -> dict:
    import scrapy
    from scrapy.crawler import CrawlerProcess

    segment = RawSegment(out / "segment.raw")
    counts = {"ok": 0, "errors": 0}

    class Pages(scrapy.Spider):
        name = "pages"

        async def start(self):  # Scrapy >= 2.13
            for request in self.start_requests():
                yield request

        def start_requests(self):
            for url in urls:
                yield scrapy.Request(url, callback=self.parse, errback=self.failed, dont_filter=True)

        def parse(self, response):
            segment.write(response.body)
            counts["ok"] += 1

        def failed(self, failure):
            counts["errors"] += 1

    process = CrawlerProcess(settings={
        "CONCURRENT_REQUESTS": max(16, concurrency), "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": True, "LOG_LEVEL": os.environ.get("BENCH_SCRAPY_LOG", "ERROR"), "TELNETCONSOLE_ENABLED": False,
        "DOWNLOAD_MAXSIZE": 20 * 1024 * 1024, "DOWNLOAD_WARNSIZE": 0, "HTTPCACHE_ENABLED": False,
    })
    start = time.perf_counter()
    process.crawl(Pages)
    process.start()
    segment.close()
    return {**counts, "seconds": time.perf_counter() - start, "rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ----------------------------------------------------------------------------- orchestration


def run_worker(args: argparse.Namespace) -> None:
    urls = [f"http://127.0.0.1:{args.port}/p/{i}" for i in range(args.n)]
    out = Path(args.out)
    if args.worker == "maglabels":
        result = crawl_maglabels(urls, args.c, out, real_archive=False)
    elif args.worker == "maglabels+archive":
        result = crawl_maglabels(urls, args.c, out, real_archive=True)
    elif args.worker == "baseline":
        result = crawl_baseline(urls, out)
    else:
        result = crawl_scrapy(urls, args.c, out)
    print(json.dumps(result))


def measure(python: str, mode: str, n: int, c: int, port: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as out:
        cmd = [python, __file__, "--worker", mode, "--n", str(n), "--c", str(c), "--port", str(port), "--out", out]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(mode=mode, n=n, c=c, pages_per_s=result["ok"] / result["seconds"])
    line = (f"{mode:18} N={n:5} c={c}  {result['pages_per_s']:6.1f} pages/s  peak RSS {result['rss_mb']:7.0f} MB"
            f"  ok={result['ok']} errors={result['errors']}")
    if "recrawl_seconds" in result:
        line += f"  re-crawl: {result['recrawl_unchanged']} x 304 in {result['recrawl_seconds']:.2f} s"
    print(line, flush=True)
    return result


def scrapy_python(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    try:
        import scrapy  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--baseline-pages", type=int, nargs="*", default=[100, 200])
    ap.add_argument("--archive-pages", type=int, default=200, help="pages for the maglabels+archive run (0: skip)")
    ap.add_argument("--scrapy-python", default=None, help="an interpreter with Scrapy installed")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--c", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(Path(args.serve))
        return
    if args.worker:
        run_worker(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
        try:
            for _ in range(200):  # bounded wait for the server to bind
                if port_file.exists() and port_file.read_text():
                    break
                time.sleep(0.05)
            port = int(port_file.read_text())
            sizes = [len(p) for p in load_real_pages()]
            print(f"real pages: {len(sizes)} ({', '.join(f'{s:,}' for s in sizes)} bytes); "
                  f"{os.cpu_count()} CPUs; loopback server in its own process")
            report(args, port)
        finally:
            server.terminate()
            server.wait(timeout=10)


def report(args: argparse.Namespace, port: int) -> None:
    ours = {(n, c): measure(sys.executable, "maglabels", n, c, port) for c in args.concurrency for n in args.pages}
    base = [measure(sys.executable, "baseline", n, 1, port) for n in args.baseline_pages]
    if args.archive_pages:
        measure(sys.executable, "maglabels+archive", args.archive_pages, max(args.concurrency), port)
    py = scrapy_python(args.scrapy_python)
    scrapy_runs = {c: measure(py, "scrapy", min(args.pages), c, port) for c in args.concurrency} if py else {}

    print("\nflatness (peak RSS at the largest N / at the smallest N):")
    for c in args.concurrency:
        lo, hi = ours[(min(args.pages), c)], ours[(max(args.pages), c)]
        print(f"  maglabels c={c}: {hi['rss_mb']:.0f} / {lo['rss_mb']:.0f} MB = {hi['rss_mb'] / lo['rss_mb']:.2f}x "
              f"for {max(args.pages) / min(args.pages):.0f}x the pages")
    if len(base) >= 2:
        growth = (base[-1]["rss_mb"] - base[0]["rss_mb"]) / (base[-1]["n"] - base[0]["n"])
        print(f"  baseline: +{growth:.1f} MB per page ({base[0]['rss_mb']:.0f} -> {base[-1]['rss_mb']:.0f} MB)")
    print("\nspeed ratios (same run):")
    if base:
        b = base[0]["pages_per_s"]
        for (n, c), r in sorted(ours.items()):
            print(f"  maglabels N={n} c={c} / baseline: {r['pages_per_s'] / b:.1f}x")
    for c, s in scrapy_runs.items():
        r = ours[(min(args.pages), c)]
        print(f"  maglabels / Scrapy at c={c}, N={min(args.pages)}: {r['pages_per_s'] / s['pages_per_s']:.2f}x")
    if not scrapy_runs:
        print(f"  Scrapy not installed: issue 13 measured {SCRAPY_ISSUE_FIGURE:.0f} pages/s on these pages; "
              f"reproduce with `pip install -e .[bench]` (or --scrapy-python PATH) and re-run this script.")
        for (n, c), r in sorted(ours.items()):
            print(f"  maglabels N={n} c={c} / Scrapy (issue figure): {r['pages_per_s'] / SCRAPY_ISSUE_FIGURE:.2f}x")


if __name__ == "__main__":
    main()
