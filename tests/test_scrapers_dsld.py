"""DSLD scraper against a local fake API, and end to end on the offline replay."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pytest
from maglabels.scrapers.archive import Archive
from maglabels.scrapers.dsld import DSLD_BASE, fetch_label, scrape_dsld
from maglabels.scrapers.http import PoliteClient, RetryPolicy, Timeouts
from maglabels.scrapers.replay import BUNDLED_LABELS, ReplayTransport, make_client

from tests.http_server import Req, Resp, SleepRecorder

MAGNESIUM_IDS = ["49495", "220884", "246811", "249664", "261967", "276336"]
FAST = RetryPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.01, jitter=0.0)


def client_for(srv, **kw) -> PoliteClient:
    kw.setdefault("rate", None)
    return PoliteClient(
        retry=FAST, timeouts=Timeouts(1.0, 1.0), obey_robots=False,
        allowed_hosts={srv.host}, sleep=SleepRecorder(), **kw,
    )


def fake_api(srv, ids: list[str], *, missing=(), ignore_from=False) -> None:
    """search-filter paging over ``ids`` and label/{id} for each, like the v9 API."""

    def search(req: Req) -> Resp:
        start = 0 if ignore_from else int(req.query["from"])
        size = int(req.query["size"])
        hits = [{"_id": i, "_source": {"id": int(i), "fullName": f"P{i}"}} for i in ids[start : start + size]]
        return Resp(200, json.dumps({"hits": hits}), {"Content-Type": "application/json"})

    srv.route("/dsld/v9/search-filter", search)
    for i in dict.fromkeys(ids):
        if i in missing:
            srv.route(f"/dsld/v9/label/{i}", Resp(404, '{"error": "not found"}'))
        else:
            srv.route(f"/dsld/v9/label/{i}", Resp(200, json.dumps({"id": int(i), "ingredientRows": []})))


def test_pages_until_short_page_and_fetches_labels(server, tmp_path):
    ids = [str(100 + n) for n in range(7)]
    fake_api(server, ids)
    archive = Archive(tmp_path)
    with client_for(server) as client:
        result = scrape_dsld(client, archive, page_size=3, progress=False, base_url=server.url("/dsld/v9"))
    searches = server.hits("/dsld/v9/search-filter")
    assert [(r.query["from"], r.query["size"]) for r in searches] == [("0", "3"), ("3", "3"), ("6", "3")]
    assert searches[0].query == {"q": "*", "ingredient_name": "Magnesium", "status": "2", "from": "0", "size": "3"}
    assert result.ids == ids and result.errors == []
    assert len(result.pages) == 3 and {p.kind for p in result.pages} == {"search"}
    assert [json.loads(archive.get(r.sha256))["id"] for r in result.label_records] == [int(i) for i in ids]
    assert {(r.source, r.kind, r.status) for r in result.label_records} == {("dsld", "label", 200)}


def test_exact_multiple_ends_on_empty_page_and_ids_deduped(server, tmp_path):
    fake_api(server, ["1", "2", "3", "3", "4", "5"])  # a repeated id across pages
    with client_for(server) as client:
        result = scrape_dsld(client, Archive(tmp_path), page_size=3, progress=False, base_url=server.url("/dsld/v9"))
    assert result.ids == ["1", "2", "3", "4", "5"]
    assert len(server.hits("/dsld/v9/search-filter")) == 3  # 3 + 3 + empty page
    assert len(server.hits("/dsld/v9/label/3")) == 1


def test_404_label_is_an_error_and_the_run_goes_on(server, tmp_path):
    fake_api(server, ["1", "2", "3"], missing={"2"})
    archive = Archive(tmp_path)
    with client_for(server) as client:
        result = scrape_dsld(client, archive, page_size=10, progress=False, base_url=server.url("/dsld/v9"))
    assert [r.url.rsplit("/", 1)[1] for r in result.label_records] == ["1", "3"]
    (err,) = result.errors
    assert (err.what, err.id, err.status) == ("label", "2", 404)
    assert len(server.hits("/dsld/v9/label/2")) == 1  # 404 is not retried
    (error_doc,) = archive.records(kind="error")
    assert error_doc.status == 404 and error_doc.url.endswith("/label/2")
    assert {r.url for r in archive.latest("dsld", "label")} == {r.url for r in result.label_records}


def test_limit(server, tmp_path):
    fake_api(server, [str(n) for n in range(1, 11)])
    with client_for(server) as client:
        result = scrape_dsld(client, Archive(tmp_path), limit=4, page_size=3, progress=False, base_url=server.url("/dsld/v9"))
    assert result.ids == ["1", "2", "3", "4"] and len(result.label_records) == 4
    assert len(server.hits("/dsld/v9/search-filter")) == 2


def test_api_ignoring_from_does_not_loop_forever(server, tmp_path):
    fake_api(server, ["1", "2", "3"], ignore_from=True)
    with client_for(server) as client:
        result = scrape_dsld(client, Archive(tmp_path), page_size=3, progress=False, base_url=server.url("/dsld/v9"))
    assert result.ids == ["1", "2", "3"] and len(server.hits("/dsld/v9/search-filter")) == 2


def test_search_failure_recorded_not_raised(server, tmp_path):
    server.route("/dsld/v9/search-filter", Resp(500, "boom"))
    with client_for(server) as client:
        result = scrape_dsld(client, Archive(tmp_path), progress=False, base_url=server.url("/dsld/v9"))
    (err,) = result.errors
    assert err.what == "search" and err.status == 500 and result.label_records == []


def test_non_label_200_is_an_error(server, tmp_path):
    server.route("/dsld/v9/label/9", Resp(200, "[]"))
    archive = Archive(tmp_path)
    with client_for(server) as client:
        outcome = fetch_label(client, archive, "9", base_url=server.url("/dsld/v9"))
    assert outcome.reason.startswith("not a label") and archive.records(kind="label") == []


def test_api_key_in_header_never_in_archive(server, tmp_path):
    fake_api(server, ["1", "2"])
    archive = Archive(tmp_path)
    key = "SECRET-KEY-123"
    with client_for(server, api_key=key, api_key_hosts={server.host}) as client:
        scrape_dsld(client, archive, progress=False, base_url=server.url("/dsld/v9"))
    assert all(r.headers.get("x-api-key") == key for r in server.requests)
    assert all(key not in r.raw_path for r in server.requests)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            text = gzip.decompress(raw) if path.suffix == ".gz" else raw
            assert key.encode() not in raw and key.encode() not in text


def test_make_client_online_uses_dsld_quota_and_env_key(monkeypatch):
    monkeypatch.delenv("MAGLABELS_DSLD_API_KEY", raising=False)
    monkeypatch.delenv("DSLD_API_KEY", raising=False)
    with make_client(False) as c:
        assert not c.has_api_key and c.rate.per_second * 3600 <= 1000 and c.allowed_hosts == {"api.ods.od.nih.gov"}
    monkeypatch.setenv("DSLD_API_KEY", "k")
    with make_client(False) as c:
        assert c.has_api_key and 1000 < c.rate.per_second * 3600 <= 10_000


# ---------------------------------------------------------------- offline replay


def test_offline_replay_end_to_end(tmp_path):
    archive = Archive(tmp_path)
    with make_client(True) as client:
        result = scrape_dsld(client, archive, page_size=2, progress=False)
    assert result.ids == MAGNESIUM_IDS and result.errors == []
    assert len(result.pages) == 4  # 2 + 2 + 2, then an empty page (stats.count alone is not trusted)
    for rec in result.label_records:
        label_id = rec.url.rsplit("/", 1)[1]
        assert archive.get(rec.sha256) == (BUNDLED_LABELS / f"{label_id}.json").read_bytes()  # bytes as stored
        assert rec.url == f"{DSLD_BASE}/label/{label_id}"
        assert rec.headers["x-maglabels-replay"] == "bundled"
    hit = json.loads(archive.get(result.pages[0].sha256))["hits"][0]
    assert hit["_id"] == "49495" and hit["_source"]["brandName"] and hit["_source"]["fullName"]


def test_offline_replay_all_labels_and_unknown_id(tmp_path):
    archive = Archive(tmp_path)
    with make_client(True) as client:
        result = scrape_dsld(client, archive, ingredient=None, page_size=4, progress=False)
        missing = fetch_label(client, archive, "999999999")
    assert len(result.ids) == 15 and len(result.label_records) == 15
    assert missing.status == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "*", "ingredient_name": "magnesium", "from": 2, "size": 3}, ["246811", "249664", "261967"]),
        ({"q": "*", "ingredient_name": "Magnesium", "from": 6, "size": 3}, []),
        ({"q": "Multi-Billion Dophilus", "from": 0, "size": 10}, ["79324", "264116"]),
        ({"q": "*", "ingredient_name": "Magnesium Stearate", "from": 0, "size": 10}, []),
    ],
)
def test_replay_search_filter(params, expected):
    with httpx.Client(transport=ReplayTransport()) as c:
        data = c.get(f"{DSLD_BASE}/search-filter", params=params).json()
    assert [h["_id"] for h in data["hits"]] == expected


def test_bundled_magnesium_set_matches_label_rows():
    ids = []
    for path in sorted(Path(BUNDLED_LABELS).glob("*.json")):
        label = json.loads(path.read_bytes())
        if any(r["name"] == "Magnesium" for r in label["ingredientRows"]):
            ids.append(path.stem)
    assert sorted(ids) == sorted(MAGNESIUM_IDS)


@pytest.mark.parametrize("value, expected", [
    ("49495", 49495), (49495, 49495), ("0", None), ("-4", None), (-4, None), ("12\r\n", None), ("../../x", None),
    ("12 ", None), (True, None), (None, None), ("1" * 13, None), (1.0, None), ("０１", None),
])
def test_valid_label_id(value, expected):
    from maglabels.scrapers.dsld import valid_label_id

    assert valid_label_id(value) == expected


def test_label_answering_with_another_id_is_a_lost_document(server, tmp_path):
    server.route("/dsld/v9/label/7", Resp(200, json.dumps({"id": 8, "ingredientRows": []})))
    archive = Archive(tmp_path)
    with client_for(server) as client:
        outcome = fetch_label(client, archive, "7", base_url=server.url("/dsld/v9"))
    assert outcome.status == 200 and "answered with label id" in outcome.reason
    assert archive.records(kind="label") == [] and len(archive.records(kind="error")) == 1


def test_invalid_id_is_never_requested(server, tmp_path):
    with client_for(server) as client:
        outcome = fetch_label(client, Archive(tmp_path), "../../x", base_url=server.url("/dsld/v9"))
        assert "invalid label id" in outcome.reason and client.requests_sent == 0
