"""One snapshot of a SmartCJM calendar: walk the wizard once per service.

1. ``GET {base}/?uid={uid}`` -> 302 to ``?uid=…&wsid=…`` -> the services step (a calendar
   that first asks a postcode gets ``zip_code`` POSTed first);
2. per service, ``POST`` the form action with the token, ``action_type``, the page's
   ``steps``, ``step_current=services``, its index, ``step_goto=+1``, ``services=`` and
   ``services=<uid>``, ``service_<uid>_amount=1`` — exactly one service at a time;
3. where ``steps`` has a locations step, that answer is the locations step: ``POST``
   ``action_type=search``, ``step_current=locations``, ``locations_selected_all=1`` and every
   location listed -> the results page (``appointment_reserve`` buttons or "Keine freien
   Termine gefunden."); without one, the answer of step 2 already is the results page;
4. mode ``earliest`` replaces step 3 by ``GET search_result?search_mode=earliest&uid&wsid``
   (the earliest time per office as JSON, or ``"nothing_Found"``).

Each POST uses the token and action of the last page that had the form (the site accepts a
services POST from any later step, which spares a request per service). An expired session
("Ihre Sitzung ist abgelaufen.") starts a fresh ``wsid`` once per snapshot; a second one is
an error. Cloudflare's 429 pauses the host (``Retry-After``, in the fetcher) and then ends
the source with a ``BlockedError``.

Requests per snapshot: 2 + S x (1 + L) where S is the number of services asked and L = 1
when the calendar has a locations step (else 0); mode earliest: 2 + 2 S. A postcode step
adds 1, a restart 2 + the requests of the service being asked again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ...errors import ScrapeError
from ..pages import PageView
from . import client
from . import protocol as P

MODES = ("all", P.EARLIEST_MODE)


class Wizard:
    """The state of one ``wsid``: the last page with the form and the step indexes."""

    def __init__(self, session: Any, base: str, uid: str, zip_code: str | None):
        self.session = session
        self.base = base
        self.uid = uid
        self.zip_code = zip_code
        self.form: dict[str, Any] = {}
        self.url = ""
        self.wsid = ""
        self.steps = ""
        self.services_index = "0"

    async def start(self) -> PageView:
        """A fresh ``wsid`` and its services step."""
        url = client.start_url(self.base, self.uid)
        view, url = await client.fetch_view(self.session, url, expect=("services", "start"))
        if view.page == "start":
            if not self.zip_code:
                raise ScrapeError(
                    f"{P.NAME}: the calendar first asks a postcode; set the catalog "
                    f"parameter {P.ZIP_FIELD}",
                    url=url,
                )
            form = view.details["form"]
            fields = form["fields"]
            data = {
                P.TOKEN_FIELD: form["token"],
                "action_type": "",
                **{k: fields.get(k, "") for k in P.STEP_FIELDS[:3]},
                "step_goto": P.GOTO_NEXT,
                P.ZIP_FIELD: self.zip_code,
            }
            target = client.post_target(url, form)
            view, url = await client.fetch_view(
                self.session, target, data=data, expect=("services",)
            )
        form = view.details["form"]
        self.wsid = client.wsid_of(url, form)
        self.steps = form["fields"].get("steps", "")
        if not self.steps:
            raise ScrapeError(f"{P.NAME}: the services step has no 'steps' field", url=url)
        self.services_index = form["fields"].get("step_current_index") or "0"
        self.form, self.url = form, url
        return view

    @property
    def has_locations(self) -> bool:
        return P.STEP_LOCATIONS in self.steps

    def _fields(self, step: str, index: str, action_type: str) -> dict[str, Any]:
        return {
            P.TOKEN_FIELD: self.form["token"],
            "action_type": action_type,
            "steps": self.steps,
            "step_current": step,
            "step_current_index": index,
            "step_goto": P.GOTO_NEXT,
        }

    async def _post(self, data: dict[str, Any], expect: tuple[str, ...]) -> tuple[PageView, str]:
        target = client.post_target(self.url, self.form)
        view, url = await client.fetch_view(self.session, target, data=data, expect=expect)
        if view.details.get("form"):
            self.form, self.url = view.details["form"], url
        return view, url

    async def choose(self, service: str) -> tuple[PageView, str]:
        """The services step with exactly this one service."""
        action = "" if self.has_locations else P.ACTION_SEARCH
        data = self._fields(P.STEP_SERVICES, self.services_index, action)
        data[P.SERVICES_FIELD] = ["", service]
        data[P.amount_field(service)] = "1"
        expect = ("offices", "times", "none-free") if self.has_locations else ("times", "none-free")
        return await self._post(data, expect)

    async def search_locations(self, view: PageView) -> tuple[PageView, str]:
        """The locations step with every location it lists."""
        index = self.form["fields"].get("step_current_index") or "1"
        data = self._fields(P.STEP_LOCATIONS, index, P.ACTION_SEARCH)
        data[P.LOCATIONS_ALL_FIELD] = "1"
        data[P.LOCATIONS_FIELD] = [o.id for o in view.offices]
        return await self._post(data, ("times", "none-free"))

    async def earliest(self) -> tuple[PageView, str]:
        url = client.earliest_url(self.base, self.uid, self.wsid)
        view, url = await client.fetch_view(self.session, url, expect=("offices", "none-free"))
        if view.reader != "smartcjm.earliest":
            raise ScrapeError(f"{P.NAME}: the earliest page is a {view.reader} page", url=url)
        return view, url


def _record(service: str, name: str, view: PageView, url: str, locations) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "service": service,
        "name": name,
        "url": url,
        "locations": locations,
        "none_free": view.marker,
    }
    if view.reader == "smartcjm.earliest":
        entry["earliest"] = [
            [e["slot"], e["iso"], e["duration"], e["location"], e["name"], e["link"]]
            for e in view.details.get("earliest", [])
        ]
    else:
        slots = view.details.get("slots", [])
        entry["slots"] = [
            [s["slot"], s["iso"], s["duration"], s["location"], s["resource"]] for s in slots
        ]
        entry["names"] = view.details.get("names", {})
    return entry


async def _ask(wizard: Wizard, service: str, name: str, mode: str) -> dict[str, Any]:
    view, url = await wizard.choose(service)
    locations = None
    if view.page == "offices":
        locations = [[o.id, o.name] for o in view.offices]
        if mode == "all":
            view, url = await wizard.search_locations(view)
    if mode == P.EARLIEST_MODE:
        view, url = await wizard.earliest()
    return _record(service, name, view, url, locations)


def _chosen(offered: list[tuple[str, str]], wanted: str | None, url: str) -> list:
    if not wanted:
        return offered
    names = dict(offered)
    chosen = []
    for service in (s.strip() for s in wanted.split(",")):
        if service and service not in names:
            raise ScrapeError(
                f"{P.NAME}: service {service} is not offered (the services step lists "
                f"{', '.join(names)})",
                url=url,
            )
        if service:
            chosen.append((service, names[service]))
    return chosen


async def scrape(source: Any, session: Any, weeks: int, now: datetime) -> dict[str, Any]:
    params = source.params
    mode = params.get("mode") or "all"
    if mode not in MODES:
        raise ScrapeError(f"{P.NAME}: mode {mode!r} is not one of {', '.join(MODES)}")
    base = params["base_url"].rstrip("/")
    wizard = Wizard(session, base, params["uid"], params.get("zip_code"))
    first = await wizard.start()
    services = _chosen(first.choices, params.get("services"), wizard.url)
    searches = []
    restarted = False
    for service, name in services:
        while True:
            try:
                searches.append(await _ask(wizard, service, name, mode))
                break
            except client.SessionExpired as exc:
                if restarted:
                    raise ScrapeError(f"{exc} (again, after a fresh wsid)", url=exc.url) from None
                restarted = True
                await wizard.start()
    return {
        "v": 1,
        "mode": mode,
        "until": (now.date() + timedelta(days=7 * weeks)).isoformat(),
        "calendar": params["uid"],
        "steps": wizard.steps,
        "services": [[s, n] for s, n in first.choices],
        "restarted": restarted,
        "searches": searches,
    }
