"""Shared test fixtures: where the bundled real data lives, a throw-away data dir, hypothesis profiles,
plus the local HTTP servers (tests/http_server.py) and the warehouse fixtures (tests/warehouse_data.py).

Paths are plain constants too (``from tests.conftest import IHERB_PAGES``) because parametrised
tests need them at collection time, before fixtures exist.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Fixtures shared by several test modules live in non-test modules registered here (importing a
# fixture into a test module would shadow it, and ruff rightly reports that as F811).
pytest_plugins = ["tests.http_server", "tests.warehouse_data"]

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
BUNDLED_DSLD_LABELS = ROOT / "scrapers" / "bundled" / "dsld" / "labels"
# The two real iHerb product pages (see tests/golden/www.iherb.com/SOURCES.md), by case name.
IHERB = GOLDEN / "www.iherb.com"
IHERB_PAGES = {p.parent.name: p for p in sorted(IHERB.glob("*/page.html.gz"))}
MULTI_PAGE = IHERB / "104996-cgn-multivitamin-two-a-day" / "page.html.gz"
BCOMPLEX_PAGE = IHERB / "108255-cgn-b-complex" / "page.html.gz"

# Hypothesis profiles for every property test: "dev" 100 examples, "ci" 10,000 (CI=true, as CI
# runs .ci/run; or MAGLABELS_HYPOTHESIS_PROFILE=ci). Both derandomized with no example database,
# so every run tries the same cases (a property test cannot go red at random); no deadline (the
# first example pays one-off TOML/pint set-up).
_PROFILE = dict(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=100, **_PROFILE)
settings.register_profile("ci", max_examples=10_000, **_PROFILE)
settings.load_profile(os.environ.get("MAGLABELS_HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") == "true" else "dev"))


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty MAGLABELS_DATA_DIR for commands that archive and load (read via Settings.load)."""
    path = tmp_path / "data"
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(path))
    return path


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder whose data/ holds the archive and the default database (no MAGLABELS_DB)."""
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAGLABELS_DB", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def iherb_pages() -> dict[str, Path]:
    return dict(IHERB_PAGES)
