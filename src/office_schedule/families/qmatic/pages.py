"""qmatic: protocol facts (shared with the fake server) and the readers of every answer.

Qmatic Web Booking (Orchestra) answers anonymous GETs under ``{base}/rest/schedule/``
with matrix parameters (``;key=value``, never a query string). Shapes as recorded at
broneering.politsei.ee on 2026-10-02 (umutdinceryananer/ppa-slot-watch, tests/fixtures)
and read by other public clients (ICBC 2019, Lublin 2025, Leuven 2026):

- ``services``: ``[{"publicId", "name", "duration", ...}]``; ``serviceGroups``: groups with
  such ``services``;
- ``branches/available;servicePublicId=S``: ``{"value": [branch]}`` (2026) or a bare list,
  a branch ``{"id": <64 hex>, "name", "addressCity", "timeZone", ...}``;
- ``branches/B/dates;servicePublicId=S;customSlotLength=N``: ``[{"date": "YYYY-MM-DD"}]``,
  only days with free times;
- ``branches/B/dates/D/times;...``: ``[{"date": D, "time": "HH:MM"}]``; ``[]`` is an
  explicit empty day (status 200).

The API has no "nothing free" text: the markers below name its explicit empty lists.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import pages
from ..common import is_day, is_int
from ..pages import Office, PageError, PageView

NAME = "qmatic"
#: the REST root below a tenant's ``base_url`` (``https://host/qmaticwebbooking``)
REST = "/rest/schedule"
SERVICES_PATH = "services"
SERVICE_GROUPS_PATH = "serviceGroups"
BRANCHES_PATH = "branches/available;servicePublicId={service}"
DATES_PATH = "branches/{branch}/dates;servicePublicId={service};customSlotLength={length}"
TIMES_PATH = (
    "branches/{branch}/dates/{day}/times;servicePublicId={service};customSlotLength={length}"
)
#: branch and service public ids: 64 lower-case hex digits
PUBLIC_ID = re.compile(r"[0-9a-f]{64}", re.ASCII)
#: the wrapper key of the 2026 branch list
VALUE_KEY = "value"

NO_SERVICE = "qmatic: the catalogue lists no service"
NO_BRANCH = "qmatic: API listed no branch for service"
NO_DATE = "qmatic: API answered an empty date list"
NO_TIME = "qmatic: API answered an empty time list"

_TIME = re.compile(r"\d{2}:\d{2}", re.ASCII)
#: a slot of the raw payload


def rest_url(base: str, path: str, **values: str) -> str:
    """``{base}/rest/schedule/{path}`` with the matrix values filled in literally."""
    return f"{base.rstrip('/')}{REST}/{path.format(**values)}"


def endpoint(url: str | None) -> tuple[str | None, dict[str, str]]:
    """Which answer a URL asks for, and its path and matrix values (``branch``, ``day``,
    ``servicePublicId``, ``customSlotLength``)."""
    if not url:
        return None, {}
    path = unquote(urlsplit(url).path)
    if REST + "/" not in path:
        return None, {}
    segments = path.split(REST + "/", 1)[1].strip("/").split("/")
    values: dict[str, str] = {}
    names = []
    for segment in segments:
        name, *matrix = segment.split(";")
        names.append(name)
        for item in matrix:
            key, _, value = item.partition("=")
            values[key] = value
    if names == ["services"]:
        return "services", values
    if names == ["serviceGroups"]:
        return "service-groups", values
    if names == ["branches", "available"] or names == ["branches"]:
        return "branches", values
    if len(names) == 3 and names[0] == "branches" and names[2] == "dates":
        return "dates", {**values, "branch": names[1]}
    if len(names) == 5 and names[0] == "branches" and names[2] == "dates" and names[4] == "times":
        return "times", {**values, "branch": names[1], "day": names[3]}
    return None, values


def _day(value: Any) -> str | None:
    return value if is_day(value) else None


def _minutes(value: Any) -> int | None:
    """A service duration in minutes (None when missing); odd values raise ValueError."""
    if value is None:
        return None
    if is_int(value) and value >= 0:
        return value
    raise ValueError(f"an odd duration {value!r}")


def _service(item: dict[str, Any], where: str, url: str | None) -> dict[str, Any]:
    sid, name = item.get("publicId"), item.get("name")
    if not isinstance(sid, str) or not PUBLIC_ID.fullmatch(sid):
        raise PageError(f"qmatic {where}: no 64-hex 'publicId' ({sid!r})", url=url)
    if not isinstance(name, str) or not name.strip():
        raise PageError(f"qmatic {where}: service {sid} has no name", url=url)
    try:
        duration = _minutes(item.get("duration"))
    except ValueError as exc:
        raise PageError(f"qmatic {where}: service {sid} has {exc}", url=url) from None
    return {"id": sid, "name": name.strip(), "duration": duration}


def _services(items: list[Any], url: str | None, grouped: bool) -> PageView:
    services: list[dict[str, Any]] = []
    if grouped:
        for g, group in enumerate(items):
            listed = group.get("services")
            if not isinstance(listed, list):
                raise PageError(f"qmatic service groups: group {g} has no 'services'", url=url)
            for i, item in enumerate(listed):
                if not isinstance(item, dict):
                    raise PageError(f"qmatic service groups: entry {g}.{i} is no object", url=url)
                services.append(_service(item, f"service groups entry {g}.{i}", url))
    else:
        services = [_service(item, f"services entry {i}", url) for i, item in enumerate(items)]
    unique = {s["id"]: s for s in services}
    return PageView(
        "services",
        choices=[(s["id"], s["name"]) for s in unique.values()],
        reader="qmatic.service-groups" if grouped else "qmatic.services",
        details={"services": list(unique.values())},
    )


def _branches(items: list[Any], url: str | None, wrapped: bool) -> PageView:
    offices: dict[str, Office] = {}
    for i, item in enumerate(items):
        bid, name = item.get("id"), item.get("name")
        if not isinstance(bid, str) or not PUBLIC_ID.fullmatch(bid):
            raise PageError(f"qmatic branch list: entry {i} has no 64-hex 'id' ({bid!r})", url=url)
        if not isinstance(name, str) or not name.strip():
            raise PageError(f"qmatic branch list: branch {bid} has no name", url=url)
        offices.setdefault(bid, Office(bid, name.strip()))
    return PageView(
        "offices",
        offices=list(offices.values()),
        reader="qmatic.branch-value" if wrapped else "qmatic.branch-list",
    )


def _dates(items: list[dict[str, Any]], url: str | None) -> PageView:
    days = []
    for i, item in enumerate(items):
        day = _day(item.get("date"))
        if day is None:
            raise PageError(f"qmatic date list: entry {i} has no usable 'date'", url=url)
        days.append(day)
    return PageView("days", days=days, reader="qmatic.dates")


def _times(items: list[dict[str, Any]], url: str | None, wanted_day: str | None) -> PageView:
    slots = []
    for i, item in enumerate(items):
        day, time = _day(item.get("date")), item.get("time")
        if day is None:
            raise PageError(f"qmatic time list: entry {i} has no usable 'date'", url=url)
        if wanted_day is not None and day != wanted_day:
            raise PageError(f"qmatic time list: entry {i} is of {day}, not {wanted_day}", url=url)
        hm = pages.find_time(time) if isinstance(time, str) and _TIME.fullmatch(time) else None
        if hm is None:
            raise PageError(f"qmatic time list: entry {i} has an odd 'time' {time!r}", url=url)
        slots.append(f"{day} {hm}")
    return PageView("times", slots=slots, reader="qmatic.times")


def _shape(item: Any) -> str | None:
    """Which list an entry belongs to, by the keys the readers use."""
    if not isinstance(item, dict):
        return None
    if "publicId" in item:
        return "services"
    if isinstance(item.get("services"), list):
        return "service-groups"
    if "date" in item:
        return "times" if "time" in item else "dates"
    if "id" in item and "name" in item:
        return "branches"
    return None


def _empty(kind: str | None, values: dict[str, str], text: str, url: str | None) -> PageView:
    """An empty list: what it states depends on the request it answers."""
    if kind in ("services", "service-groups"):
        return PageView("closed", error=NO_SERVICE, reader=f"qmatic.{kind}")
    service = values.get("servicePublicId", "?")
    if kind == "branches":
        return PageView("none-free", marker=f"{NO_BRANCH} {service}", reader="qmatic.branch-list")
    if kind == "dates":
        marker = f"{NO_DATE} (branch {values.get('branch', '?')}, service {service})"
        return PageView("none-free", marker=marker, reader="qmatic.dates")
    if kind == "times":
        marker = f"{NO_TIME} for {values.get('day', '?')}"
        return PageView("none-free", marker=marker, reader="qmatic.times")
    raise pages.unknown(NAME, text, url, "an empty list; the request URL tells what it answers")


def read_page(text: str, url: str | None = None) -> PageView:
    """Which answer of the Qmatic Web Booking API ``text`` is (by shape and URL), and what
    it shows."""
    value = pages.json_document(text)
    wanted, values = endpoint(url)
    asker = "the URL"
    wrapped = isinstance(value, dict) and set(value) == {VALUE_KEY}
    if wrapped:
        value = value[VALUE_KEY]
        if wanted not in (None, "branches"):
            raise pages.unknown(NAME, text, url, f"a wrapped list where the URL asks for {wanted}")
        wanted, asker = "branches", f"the {VALUE_KEY!r} wrapper of branch lists"
    if not isinstance(value, list):
        raise pages.unknown(NAME, text, url, "not a JSON list of the Qmatic booking API")
    shapes = {_shape(item) for item in value}
    if None in shapes or len(shapes) > 1:
        raise pages.unknown(NAME, text, url, "list entries of no (or mixed) known shape")
    kind = shapes.pop() if shapes else wanted
    if wanted is not None and kind != wanted:
        raise pages.unknown(NAME, text, url, f"{kind} where {asker} asks for {wanted}")
    if not value:
        return _empty(kind, values, text, url)
    if kind in ("services", "service-groups"):
        return _services(value, url, grouped=kind == "service-groups")
    if kind == "branches":
        return _branches(value, url, wrapped)
    if kind == "dates":
        return _dates(value, url)
    return _times(value, url, _day(values.get("day")) if values.get("day") else None)
