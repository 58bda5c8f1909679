"""Who may read `GET /metrics`: the networks of `metrics_allow_cidrs` (loopback by default)
and callers with the metrics token; a presented token must be the right one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pamnode.app.metrics import admit_scraper
from pamnode.app.settings import Settings
from pamnode.core.errors import Forbidden, Unauthenticated

TOKEN = "metrics-token-0123456789"


def test_loopback_reads_the_metrics_by_default_and_nobody_else():
    settings = Settings()
    for source in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        admit_scraper(settings, source, None)
    for source in ("10.0.0.5", "::ffff:10.0.0.5", "2001:db8::1", "", "testclient"):
        with pytest.raises(Forbidden) as refused:
            admit_scraper(settings, source, None)
        assert refused.value.code == "metrics_forbidden"


def test_the_networks_come_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("PAMNODE_METRICS_ALLOW_CIDRS", "10.0.0.0/8, 2001:db8::/32")
    settings = Settings()
    admit_scraper(settings, "10.20.30.40", None)
    admit_scraper(settings, "2001:db8::7", None)
    with pytest.raises(Forbidden):
        admit_scraper(settings, "127.0.0.1", None)
    monkeypatch.setenv("PAMNODE_METRICS_ALLOW_CIDRS", "")
    with pytest.raises(Forbidden):
        admit_scraper(Settings(), "127.0.0.1", None)


def test_a_network_with_host_bits_or_a_short_token_is_refused_at_start(monkeypatch):
    monkeypatch.setenv("PAMNODE_METRICS_ALLOW_CIDRS", "10.0.0.1/8")
    with pytest.raises(ValidationError, match="metrics_allow_cidrs"):
        Settings()
    monkeypatch.delenv("PAMNODE_METRICS_ALLOW_CIDRS")
    monkeypatch.setenv("PAMNODE_METRICS_TOKEN", "short")
    with pytest.raises(ValidationError, match="metrics_token"):
        Settings()


def test_the_token_opens_from_anywhere_and_a_wrong_one_is_refused_even_from_loopback():
    settings = Settings(metrics_token=TOKEN, metrics_allow_cidrs=[])
    admit_scraper(settings, "192.0.2.7", TOKEN)
    for wrong in (TOKEN[:-1], TOKEN + "x", ""):
        with pytest.raises(Unauthenticated) as refused:
            admit_scraper(Settings(metrics_token=TOKEN), "127.0.0.1", wrong)
        assert refused.value.code == "metrics_token_refused"
        assert TOKEN not in refused.value.message
    # A node without a metrics token refuses every token rather than ignoring it.
    with pytest.raises(Unauthenticated):
        admit_scraper(Settings(), "127.0.0.1", TOKEN)
    assert TOKEN not in repr(settings)
