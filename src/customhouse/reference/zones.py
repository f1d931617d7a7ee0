"""The date of law where the administration is: the tariff and the exchange rate of a declaration are
those of its acceptance date in the administration's country (at 08:00 in Seoul it is still yesterday
in UTC). The time zone is the first one the system's time-zone database (zone.tab) lists for the
country, UTC when it has none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError


@cache
def zone_of(country: str) -> tzinfo:
    """The (first listed) time zone of `country`, from zone.tab; UTC when the system has none."""
    for folder in TZPATH:
        table = Path(folder) / "zone.tab"
        if not table.is_file():
            continue
        for line in table.read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and fields[0] == country:
                try:
                    return ZoneInfo(fields[2])
                except ZoneInfoNotFoundError:
                    break
    return UTC


def today_in(country: str, now: datetime | None = None) -> date:
    """The date of law at `now` (default: now), in the administration's country."""
    return (now or datetime.now(UTC)).astimezone(zone_of(country)).date()
