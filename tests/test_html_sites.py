"""The per-site registry (normalize.sites): lookup by host, auto-import, one golden case per site."""
from __future__ import annotations

import json
import pkgutil

import maglabels.normalize.sites as sites
import pytest
from maglabels.normalize.sites import GENERIC, Site, for_host, register, registered_hosts

from tests.conftest import GOLDEN


@pytest.mark.parametrize("host", ["www.iherb.com", "iherb.com", "ca.iherb.com", "WWW.IHERB.COM", "www.iherb.com:443", "https://kr.iherb.com/pr/x/1"])
def test_iherb_hosts(host):
    assert for_host(host).name == "iherb"


@pytest.mark.parametrize("host", [None, "", "example.com", "notiherb.com", "iherb.com.example.org"])
def test_unknown_hosts_are_generic(host):
    assert for_host(host) is GENERIC


@pytest.mark.parametrize(
    "url, want",
    [
        ("https://www.iherb.com/pr/california-gold-nutrition-high-potency-vitamin-b-complex-with-methyl-folate-methyl-b12-90-veggie-capsules/108255", "108255"),
        ("https://ca.iherb.com/pr/doctor-s-best-5-htp-100-mg-60-veggie-caps/1", "1"),
        ("https://www.iherb.com/pr/x/104996?rcode=abc#reviews", "104996"),
        ("https://www.iherb.com/c/magnesium", None),
        (None, None),
    ],
)
def test_iherb_product_id_from_url(url, want):
    assert for_host("www.iherb.com").product_id(url) == want


def test_every_site_module_is_auto_imported():
    names = {m.name for m in pkgutil.iter_modules(sites.__path__) if not m.name.startswith("_")}
    assert "iherb" in names
    registered = set(registered_hosts().values())
    assert names <= registered | {"generic"}, "a module in normalize/sites registers no site"


def test_every_registered_site_has_a_golden_case():
    golden_sites = {
        json.loads(p.read_text(encoding="utf-8"))["extraction"]["site"]
        for p in GOLDEN.glob("*/*/expected.json")
        if json.loads(p.read_text(encoding="utf-8"))["front_end"] == "html"
    }
    for host, name in registered_hosts().items():
        assert name in golden_sites, f"site {name} ({host}) has no golden case in tests/golden/<host>/<case>/"


def test_register_rejects_a_host_taken_by_another_site():
    with pytest.raises(ValueError):

        @register("iherb.com")
        class Impostor(Site):
            name = "impostor"


def test_generic_site_answers_dont_know():
    assert GENERIC.product_id("https://example.com/p/1") is None
    assert GENERIC.suggested_use(None) is None
    assert GENERIC.other_ingredients(None) is None
