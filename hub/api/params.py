"""Query parameters shared by several routes.

`Moment`: an ISO-8601 time, turned into UTC as it is read. A time that has no UTC form (the last
moment of year 9999 at -14:00 is in year 10000) is a 422 naming the parameter, not an overflow in
the route.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("out of range: in UTC this time is outside the years 1 to 9999") from None


Moment = Annotated[datetime, AfterValidator(_in_utc)]
