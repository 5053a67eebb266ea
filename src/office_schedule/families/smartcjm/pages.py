"""Readers of every SmartCJM page the scraper meets (``office-schedule read-page smartcjm``).

Kinds and reader names:

- ``services`` (``smartcjm.services``): the services step (``step_current=services``), one
  ``label.service_title[for=service_<uid>]`` with its ``service_<uid>_amount`` field each;
- ``offices`` (``smartcjm.locations``): the locations step, ``input[name=locations]``
  checkboxes with their labels;
- ``times`` (``smartcjm.slot-buttons``): the results page; slots ONLY from the
  ``onclick="return appointment_reserve('<ISO>', '<minutes>', '<location>', '<resource>')"``
  of its buttons, checked against the day cards, the day containers, ``data-slot-from`` and
  the ``aria-label`` where the page has them (the older skin has no ``data-testid``);
- ``none-free`` (``smartcjm.no-appointment``): ``#error_no_appointment_found`` with
  "Keine freien Termine gefunden.";
- ``offices`` / ``none-free`` (``smartcjm.earliest``): ``search_result?search_mode=earliest``,
  the JSON in ``#json_appointment_list`` (earliest time per office, or ``"nothing_Found"``);
- ``error-page`` (``smartcjm.session-expired``): "… - Session abgelaufen";
- ``start`` (``smartcjm.zip-code``): a step asking the postcode (``input[name=zip_code]``);
- ``blocked`` (``smartcjm.cloudflare``): Cloudflare's block or rate-limit page.

Anything else, a results page without slot buttons and without the marker, or a page that
contradicts itself raises :class:`PageError`.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from ...clock import OFFICE_TZ
from ..pages import (
    Office,
    PageError,
    PageView,
    find_time,
    node_text,
    squash,
    title_of,
    tree,
    unknown,
    visible_text,
)
from . import protocol as P

NAME = P.NAME


def _fail(message: str, url: str | None) -> PageError:
    return PageError(f"{NAME}: {message}", url=url)


# --------------------------------------------------------------------------- the form


def form_details(doc: HTMLParser) -> dict[str, Any] | None:
    """The wizard form: its action, the token and the hidden step fields (None if absent)."""
    token = doc.css_first(f'input[name="{P.TOKEN_FIELD}"]')
    if token is None:
        return None
    form = token.parent
    while form is not None and form.tag != "form":
        form = form.parent
    if form is None:
        return None
    fields = {}
    for node in form.css('input[type="hidden"]'):
        name = node.attributes.get("name")
        if name and name not in (P.SERVICES_FIELD, P.TOKEN_FIELD) and name not in fields:
            fields[name] = node.attributes.get("value") or ""
    return {
        "action": form.attributes.get("action") or "",
        "name": form.attributes.get("name") or "",
        "token": token.attributes.get("value") or "",
        "fields": fields,
    }


def _step(doc: HTMLParser) -> str | None:
    node = doc.css_first('input[name="step_current"]')
    return (node.attributes.get("value") or "") if node is not None else None


# --------------------------------------------------------------------------- the results page


def local_slot(iso: str, url: str | None) -> tuple[str, datetime]:
    """``2026-05-20T09:15:00+02:00`` -> (``2026-05-20 09:15`` office time, the datetime)."""
    try:
        value = datetime.fromisoformat(iso)
    except ValueError:
        raise _fail(f"slot time {iso!r} is not an ISO date and time", url) from None
    if value.tzinfo is not None:
        value = value.astimezone(OFFICE_TZ).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M"), value


def _slot_from(text: str) -> str:
    """``2026-05-20T09:15:00.0000000+02:00`` (seven fraction digits) -> ISO Python reads."""
    head, dot, rest = text.strip().partition(".")
    if not dot:
        return head
    digits = len(rest) - len(rest.lstrip("0123456789"))
    return head + rest[digits:]


def _day_of(node: Node) -> str | None:
    """The ``day_YYYY-MM-DD`` class of the slot's container, if it sits in one."""
    parent = node.parent
    while parent is not None:
        for cls in (parent.attributes.get("class") or "").split():
            if cls.startswith(P.DAY_CLASS_PREFIX) and len(cls) == len(P.DAY_CLASS_PREFIX) + 10:
                return cls[len(P.DAY_CLASS_PREFIX) :]
        parent = parent.parent
    return None


def _location_heading(node: Node) -> str | None:
    """The ``h4.timeslot_cards_locations`` before the list that holds the button."""
    current = node
    while current is not None and current.tag != "ol":
        current = current.parent
    while current is not None:
        sibling = current.prev
        while sibling is not None:
            classes = (sibling.attributes.get("class") or "").split() if sibling.tag else []
            if P.LOCATION_HEADING_CLASS in classes:
                return node_text(sibling) or None
            sibling = sibling.prev
        current = current.parent
        if current is None or P.SLOT_CONTAINER_CLASS in (current.attributes.get("class") or ""):
            break
    return None


def _button_slot(node: Node, call: str, url: str | None) -> dict[str, Any]:
    match = P.RESERVE_CALL.search(call)
    if not match:
        raise _fail(f"a slot button's call is not understood: {squash(call)[:120]!r}", url)
    encoded, minutes, location, resource = match.groups()
    iso = unquote(encoded)
    slot, _ = local_slot(iso, url)
    if not minutes.isdigit() or not location or not resource:
        raise _fail(f"slot button {slot}: bad duration/location/resource {match.groups()}", url)
    shown = node.css_first(f"[{P.SLOT_FROM_ATTR}]")
    if shown is not None:
        also, _ = local_slot(_slot_from(shown.attributes.get(P.SLOT_FROM_ATTR) or ""), url)
        if also != slot:
            raise _fail(f"slot button {slot} shows {also} in {P.SLOT_FROM_ATTR}", url)
    label = node.attributes.get("aria-label") or ""
    if label and find_time(label) not in (None, slot[11:]):
        raise _fail(f"slot button {slot} is labelled {label!r}", url)
    day = _day_of(node)
    if day is not None and day != slot[:10]:
        raise _fail(f"slot {slot} sits in the container of day {day}", url)
    return {
        "slot": slot,
        "iso": iso,
        "duration": int(minutes),
        "location": location,
        "resource": resource,
        "name": _location_heading(node),
    }


def _day_cards(doc: HTMLParser) -> set[str]:
    days = set()
    for node in doc.css("button.card.big"):
        ident = (node.attributes.get("id") or "").strip("'\" ")
        try:
            days.add(date.fromisoformat(ident).isoformat())
        except ValueError:
            raise _fail(f"a day card has the id {ident!r}, not a date", None) from None
    return days


def _reserve_nodes(doc: HTMLParser) -> list[tuple[Node, str]]:
    found = []
    for node in doc.css("[onclick]"):
        call = node.attributes.get("onclick") or ""
        if P.RESERVE_FUNCTION in call:
            found.append((node, call))
    return found


def _none_free(doc: HTMLParser) -> str | None:
    box = doc.css_first(f"#{P.NONE_FREE_ID}")
    if box is None:
        return None
    text = node_text(box)
    return text if P.NONE_FREE in text else None


def read_results(doc: HTMLParser, url: str | None) -> PageView:
    """The results page: every slot button, or the site's "nothing free" marker."""
    buttons = _reserve_nodes(doc)
    marker = _none_free(doc)
    details: dict[str, Any] = {"form": form_details(doc), "step": _step(doc)}
    if marker and buttons:
        raise _fail(f"the results page says {marker!r} and shows {len(buttons)} slots", url)
    if marker:
        return PageView("none-free", marker=marker, reader="smartcjm.no-appointment",
                        details=details)  # fmt: skip
    if not buttons:
        raise _fail(
            f"results page without any {P.RESERVE_FUNCTION} button and without "
            f"{P.NONE_FREE!r}: zero slots is never a result",
            url,
        )
    slots = [_button_slot(node, call, url) for node, call in buttons]
    days = {s["slot"][:10] for s in slots}
    cards = _day_cards(doc)
    if cards and cards != days:
        raise _fail(f"day cards {sorted(cards)} but slot buttons on {sorted(days)}", url)
    names: dict[str, str | None] = {}
    earliest: dict[str, str] = {}
    for s in slots:
        names[s["location"]] = names.get(s["location"]) or s["name"]
        earliest[s["location"]] = min(earliest.get(s["location"], s["slot"]), s["slot"])
    offices = [Office(loc, names[loc], earliest[loc]) for loc in names]
    details.update(slots=slots, names=names)
    return PageView(
        "times",
        days=sorted(days),
        slots=[s["slot"] for s in slots],
        offices=offices,
        reader="smartcjm.slot-buttons",
        details=details,
    )


# --------------------------------------------------------------------------- wizard steps


def read_services(doc: HTMLParser, url: str | None) -> PageView:
    choices = []
    for label in doc.css(f"label.{P.SERVICE_LABEL_CLASS}"):
        target = label.attributes.get("for") or ""
        if not target.startswith(P.SERVICE_ID_PREFIX):
            continue
        service = target[len(P.SERVICE_ID_PREFIX) :]
        if doc.css_first(f'[name="{P.amount_field(service)}"]') is None:
            raise _fail(f"service {service} has no {P.amount_field(service)} field", url)
        choices.append((service, node_text(label)))
    if not choices:
        raise _fail("the services step lists no service (label.service_title)", url)
    form = form_details(doc)
    if form is None:
        raise _fail("the services step has no form with a verification token", url)
    return PageView("services", choices=choices, reader="smartcjm.services",
                    details={"form": form, "step": P.STEP_SERVICES})  # fmt: skip


def read_locations(doc: HTMLParser, url: str | None) -> PageView:
    offices = []
    for box in doc.css(f'input[type="checkbox"][name="{P.LOCATIONS_FIELD}"]'):
        uid = (box.attributes.get("value") or "").strip()
        label = doc.css_first(f'label[for="{box.attributes.get("id") or ""}"]')
        if not uid or label is None:
            raise _fail("a location checkbox without value or label", url)
        lines = [squash(t) for t in label.text(separator="\n").split("\n") if squash(t)]
        offices.append(Office(uid, lines[0] if lines else None))
    if not offices:
        raise _fail("the locations step lists no location checkbox", url)
    form = form_details(doc)
    if form is None:
        raise _fail("the locations step has no form with a verification token", url)
    return PageView("offices", offices=offices, reader="smartcjm.locations",
                    details={"form": form, "step": P.STEP_LOCATIONS})  # fmt: skip


def read_earliest(node: Node, url: str | None) -> PageView:
    try:
        data = json.loads(node.text())
    except ValueError:
        raise _fail(f"#{P.EARLIEST_LIST_ID} is not JSON", url) from None
    items = data.get("appointments") if isinstance(data, dict) else None
    if items == P.EARLIEST_NONE:
        return PageView("none-free", marker=P.EARLIEST_NONE, reader="smartcjm.earliest")
    if not isinstance(items, list) or not items:
        raise _fail(f"earliest list {str(items)[:80]!r} is neither offices nor nothing_Found", url)
    offices, found = [], []
    for item in items:
        if not isinstance(item, dict) or not item.get("unit_uid"):
            raise _fail(f"earliest entry {str(item)[:80]!r} without unit_uid", url)
        slot, value = local_slot(str(item.get(P.EARLIEST_ISO_KEY) or ""), url)
        shown = squash(str(item.get("date_time") or ""))
        if shown and shown != P.earliest_date_time(value):
            raise _fail(f"earliest entry shows {shown!r} for {slot}", url)
        name = squash(str(item.get("unit") or "")) or None
        offices.append(Office(str(item["unit_uid"]), name, slot))
        found.append({"location": str(item["unit_uid"]), "name": name, "slot": slot,
                      "iso": item[P.EARLIEST_ISO_KEY], "duration": item.get("duration"),
                      "link": item.get("link")})  # fmt: skip
    return PageView("offices", slots=[f["slot"] for f in found], offices=offices,
                    reader="smartcjm.earliest", details={"earliest": found})  # fmt: skip


# --------------------------------------------------------------------------- dispatch


def _expired(doc: HTMLParser) -> str | None:
    heading = node_text(doc.css_first("h2#page_title"))
    if P.SESSION_EXPIRED_TITLE in title_of(doc) or heading == P.SESSION_EXPIRED_HEADING:
        text = node_text(doc.css_first("#expired_message"))
        return squash(f"{heading} {text}") or P.SESSION_EXPIRED_TITLE
    return None


def _blocked(doc: HTMLParser) -> str | None:
    text = visible_text(doc)
    for message in (P.CLOUDFLARE_BLOCKED, P.CLOUDFLARE_RATE_LIMITED):
        if message in text and "cloudflare" in text.lower() + title_of(doc).lower():
            return message
    return None


def read_page(text: str, url: str | None = None) -> PageView:
    """What a SmartCJM page shows; ``PageError`` for anything not recognised."""
    doc = tree(text)
    blocked = _blocked(doc)
    if blocked:
        return PageView("blocked", error=blocked, reader="smartcjm.cloudflare")
    expired = _expired(doc)
    if expired:
        return PageView("error-page", error=expired, reader="smartcjm.session-expired")
    earliest = doc.css_first(f"#{P.EARLIEST_LIST_ID}")
    if earliest is not None:
        return read_earliest(earliest, url)
    step = _step(doc)
    if (
        step == P.STEP_RESULTS
        or _reserve_nodes(doc)
        or doc.css_first(f"#{P.NONE_FREE_ID}") is not None
    ):
        if step not in (None, P.STEP_RESULTS):
            raise _fail(f"results markup on the {step!r} step", url)
        return read_results(doc, url)
    if step == P.STEP_SERVICES:
        return read_services(doc, url)
    if step == P.STEP_LOCATIONS:
        return read_locations(doc, url)
    if doc.css_first(f'input[name="{P.ZIP_FIELD}"]') is not None:
        form = form_details(doc)
        if form is None:
            raise _fail("the postcode step has no form with a verification token", url)
        return PageView("start", reader="smartcjm.zip-code", details={"form": form, "step": step})
    raise unknown(NAME, text, url, f"step_current={step!r}" if step is not None else "")


__all__ = ["form_details", "local_slot", "read_page"]
