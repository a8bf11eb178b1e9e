"""The one clock of the mirror's timestamps."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """Timezone-aware UTC: every first_seen, last_seen and finished_at."""
    return dt.datetime.now(dt.timezone.utc)
