"""ws/2 client politeness: contact required, pacing, backoff."""

from __future__ import annotations

import pytest

from indexer.config import load_settings
from indexer.sources.ws2 import Client, RateLimiter, WSError, backoff_delay


def test_refuses_musicbrainz_org_without_contact():
    settings = load_settings({"ws_url": "https://musicbrainz.org"}, environ={})
    with pytest.raises(WSError, match="contact"):
        Client(settings)
    ok = load_settings({"ws_url": "https://musicbrainz.org", "contact": "a@example.org"}, environ={})
    assert "a@example.org" in Client(ok).user_agent and Client(ok).user_agent.startswith("mbindex/")


def test_rate_limiter_spaces_request_starts():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    lim = RateLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    starts = []
    for _ in range(4):
        lim.wait()
        starts.append(now[0])
    assert starts == [0.0, 1.0, 2.0, 3.0]
    assert RateLimiter(0).wait() == 0.0  # 0 = unlimited


def test_backoff_grows_with_jitter_and_honours_retry_after():
    assert backoff_delay(1, 7) == 7
    assert backoff_delay(3, 0, rng=lambda: 1.0) == 4.0  # Retry-After: 0 falls back to backoff
    assert backoff_delay(3, None, rng=lambda: 0.0) == 2.0
    assert backoff_delay(20, None, rng=lambda: 1.0) == 60.0  # capped
    assert backoff_delay(1, 3600) == 60.0
