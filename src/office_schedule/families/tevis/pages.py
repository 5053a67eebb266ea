"""Readers of TEVIS pages: what each step of the flow shows (``read_page``).

Steps: start page (departments as ``<a href="select2?md=N">`` or ``<button onclick=
"window.location.href='select2?md=N'">``), ``select2`` (services: ``input.cnc-item``, form or
flat layout), ``location`` (office chooser: one POST form with hidden ``loc`` per office),
``suggest`` (one ``form.suggestion_form`` per free time: hidden ``date`` YYYYMMDD and
``start`` minutes; disabled ``button.suggest_btn`` are taken times; "Kein freier Termin
verfügbar" when none), error pages ("Fehlermeldung: ..."), and the 2021 flow's calendar page
(``window.tevis`` script) and ``caldiv`` JSON weeks.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from ..pages import (
    Office,
    PageError,
    PageView,
    find_date,
    find_time,
    json_document,
    minutes_slot,
    node_text,
    squash,
    unknown,
)
from . import protocol as P

_DAY = re.compile(r"\d{8}")
_CALENDAR_VALUE = re.compile(r"calendar:\s*([^,}\n;]*)")


# --------------------------------------------------------------------------- small readers


def _classes(node: Node) -> list[str]:
    return (node.attributes.get("class") or "").split()


def _hidden_fields(form: Node) -> dict[str, str]:
    fields: dict[str, str] = {}
    for node in form.css("input"):
        attrs = node.attributes
        if (attrs.get("type") or "").lower() == "hidden" and attrs.get("name"):
            fields[attrs["name"]] = (attrs.get("value") or "").strip()
    return fields


def _headings(doc: HTMLParser) -> list[str]:
    return [node_text(h) for h in doc.css("h1, h2, h3")]


def yyyymmdd(value: str, where: str) -> date:
    if not _DAY.fullmatch(value or ""):
        raise PageError(f"tevis: {where}: date {value!r} is not YYYYMMDD")
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise PageError(f"tevis: {where}: {value!r} is not a valid date") from None


def departments(doc: HTMLParser) -> dict[str, str]:
    """Start page -> ordered ``{md: title}`` from links and buttons to ``select2?md=N``."""
    found: dict[str, str] = {}
    for node in doc.css("a[href], button[onclick]"):
        target = node.attributes.get("href") or node.attributes.get("onclick") or ""
        match = P.DEPARTMENT_LINK.search(target)
        if match:
            found[match.group(1)] = node_text(node)
    return found


def error_message(doc: HTMLParser, text: str) -> str | None:
    """The message of a TEVIS error page ("Fehlermeldung: ..."), or None."""
    box = doc.css_first("div.content--error") or doc.css_first("h1.error")
    if box is None:
        if P.DB_ERROR in text:
            return P.DB_ERROR
        return None
    scope = box if box.tag == "div" else (box.parent or box)
    for p in scope.css("p, div.alert"):
        first = (p.text(deep=False) or "").strip() or node_text(p)
        if first:
            return squash(first.removeprefix(P.ERROR_PREFIX))
    return node_text(scope) or "TEVIS error page"


# --------------------------------------------------------------------------- services


def _service_name(item: Node, doc: HTMLParser, form: Node | None) -> str | None:
    name = (item.attributes.get("data-tevis-cncname") or "").strip()
    if name:
        return name
    item_id = item.attributes.get("id")
    if item_id:
        label = doc.css_first(f'label[for="{item_id}"]')
        if label is not None and node_text(label):
            return node_text(label)
    if form is not None:  # 2021 form layout: the first link of the form
        return node_text(form.css_first("a")) or None
    grandparent = item.parent.parent if item.parent is not None else None
    link = grandparent.css_first('a[data-html="true"]') if grandparent is not None else None
    return node_text(link) or None


def _split(value: str | None) -> str | None:
    return "|".join(sorted(set(value.split("|")))) if value is not None else None


def _service(item: Node, doc: HTMLParser, mdt: str, form: Node | None) -> dict[str, Any]:
    attrs = item.attributes
    cnc = attrs.get("name")
    if not cnc:
        raise PageError("tevis: service input (class cnc-item) has no name")
    duration = (attrs.get("data-tevis-duration") or "").strip()
    return {
        "mdt": mdt,
        "cnc": cnc,
        "name": _service_name(item, doc, form),
        "calendar": attrs.get("data-tevis-calendars") or attrs.get("data-tevis-calendar"),
        "location": _split(attrs.get("data-tevis-locations")),
        "duration": int(duration) if duration.isdigit() else None,
    }


def _mdt(node: Node | None, where: str) -> str:
    value = (node.attributes.get("value") or "").strip() if node is not None else ""
    if not value:
        raise PageError(f'tevis: {where} has no <input name="mdt"> with a value')
    return value


def services(doc: HTMLParser) -> tuple[list[dict[str, Any]], str]:
    """Service list -> (records, the action of its form: ``location`` or 2021 ``calendar``)."""
    forms = doc.css("form.cnc-form")
    records: list[dict[str, Any]] = []
    if forms:  # 2021 form layout: one form per service
        for index, form in enumerate(forms):
            item = form.css_first("input.cnc-item")
            if item is None:
                raise PageError(f"tevis: service form #{index} has no input of class cnc-item")
            mdt = _mdt(form.css_first('input[name="mdt"]'), f"service form #{index}")
            records.append(_service(item, doc, mdt, form))
        return records, forms[0].attributes.get("action") or ""
    items = doc.css("input.cnc-item")
    mdt = _mdt(doc.css_first('input[name="mdt"]'), "service list")
    form = items[0]
    while form is not None and form.tag != "form":
        form = form.parent
    action = (form.attributes.get("action") or "") if form is not None else ""
    return [_service(item, doc, mdt, None) for item in items], action


def flow_of(action: str) -> str:
    """``today`` (services lead to ``location``) or ``classic`` (to the 2021 ``calendar``)."""
    last = action.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return "classic" if last == "calendar" else "today"


# --------------------------------------------------------------------------- office chooser


def _earliest(text: str) -> str | None:
    match = P.EARLIEST.search(text)
    if not match:
        return None
    day, month, year, hour, minute = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return None


def _dd_node(scope: Node, label: str) -> Node | None:
    """The ``dd`` that follows the ``dt`` labelled ``label`` in ``scope``."""
    for dt in scope.css("dt"):
        if node_text(dt) == label:
            dd = dt.next
            while dd is not None and dd.tag != "dd":
                dd = dd.next
            return dd
    return None


def _dd_after(scope: Node, label: str) -> str:
    return node_text(_dd_node(scope, label))


def _office_heading(form: Node) -> Node | None:
    """The ``h3`` that heads an accordion panel holding ``form``."""
    panel = form.parent
    while panel is not None and "suggest_location_panel" not in _classes(panel):
        panel = panel.parent
    node = panel.prev if panel is not None else None
    while node is not None and node.tag != "h3":
        if node.tag not in ("-text", "-comment"):
            return None
        node = node.prev
    return node


def offices(doc: HTMLParser) -> tuple[list[Office], dict[str, dict[str, Any]]]:
    """Office chooser -> offices (id = ``loc``) and, per office, the form to POST."""
    found: dict[str, Office] = {}
    forms: dict[str, dict[str, Any]] = {}
    markers: dict[str, str] = {}
    for form in doc.css("form"):
        fields = _hidden_fields(form)
        loc = fields.get("loc")
        if not loc:
            continue
        in_map = any(
            (a.attributes.get("id") or "").startswith("map_marker_content-")
            for a in _ancestors(form)
        )
        if in_map:  # the map's popup duplicates an office: its name only
            markers.setdefault(loc, node_text(form.parent.css_first("b")) if form.parent else "")
            continue
        heading = _office_heading(form)
        name = _dd_after(form, "Name") or (node_text(heading.css_first("span")) if heading else "")
        earliest = _earliest(_dd_after(form, P.NEXT_LABEL)) or _earliest(
            (heading.attributes.get("title") or "") if heading is not None else ""
        )
        submit = form.css_first(f'input[name="{P.SELECT_LOCATION}"]')
        forms[loc] = {
            "action": form.attributes.get("action") or "",
            "fields": fields,
            "submit": [P.SELECT_LOCATION, (submit.attributes.get("value") or "") if submit else ""],
        }
        found[loc] = Office(loc, name or None, earliest)
    if not found:  # only map popups: they carry the forms too
        for form in doc.css("form"):
            fields = _hidden_fields(form)
            if fields.get("loc") and fields["loc"] not in found:
                loc = fields["loc"]
                found[loc] = Office(loc, markers.get(loc) or None, None)
                forms[loc] = {"action": "", "fields": fields, "submit": [P.SELECT_LOCATION, ""]}
    return list(found.values()), forms


def _ancestors(node: Node):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


# --------------------------------------------------------------------------- suggest page


def _day_header(node: Node) -> date | None:
    """The day a suggest page's day header names (``summary`` 2025+, ``h3`` older skin)."""
    if node.tag == "summary" and node.attributes.get("id") == "suggest_details_summary":
        return find_date(node_text(node))
    if node.tag == "h3" and any(
        a.attributes.get("id") == "sugg_accordion" for a in _ancestors(node)
    ):
        return find_date(node.attributes.get("title") or "") or find_date(node_text(node))
    return None


def _free_slot(form: Node, header: date | None) -> dict[str, Any]:
    fields = _hidden_fields(form)
    button = form.css_first("button")
    shown = (
        find_time((button.attributes.get("title") or "") or node_text(button)) if button else None
    )
    if "date" in fields:
        day = yyyymmdd(fields["date"], "suggestion form")
    elif header is not None:
        day = header
    else:
        raise PageError("tevis: suggestion form without a date and no day heading above it")
    if header is not None and day != header:
        raise PageError(f"tevis: suggestion of {day} under the heading of {header}")
    start = fields.get("start", "")
    if start.isdigit():
        slot = minutes_slot(day, int(start))
        if shown is not None and slot[-5:] != shown:
            raise PageError(f"tevis: suggestion start {start} min is {slot[-5:]}, button {shown}")
    elif shown is not None:
        slot = f"{day.isoformat()} {shown}"
    else:
        raise PageError("tevis: suggestion form without a start time")
    return {"slot": slot, "cal": fields.get("cal"), "loc": fields.get("loc")}


def suggestions(doc: HTMLParser) -> dict[str, Any]:
    """Free (forms) and taken (disabled buttons) times of a suggest page, in page order."""
    free: list[dict[str, Any]] = []
    taken: list[str] = []
    header: date | None = None
    for node in doc.root.traverse() if doc.root is not None else ():
        day = _day_header(node)
        if day is not None:
            header = day
        elif node.tag == "form" and P.SUGGESTION_FORM in _classes(node):
            free.append(_free_slot(node, header))
        elif (
            node.tag == "button"
            and P.SUGGEST_BUTTON in _classes(node)
            and "disabled" in node.attributes
            and header is not None
        ):
            shown = find_time(node_text(node) or node.attributes.get("title") or "")
            if shown:
                taken.append(f"{header.isoformat()} {shown}")
    return {"free": free, "taken": taken}


def filter_form(doc: HTMLParser) -> dict[str, Any] | None:
    """The suggest page's filter: its hidden fields and the date range it states."""
    form = doc.css_first(f"form#{P.FILTER_FORM}")
    if form is None:
        return None
    values = {}
    for name in ("filter_date_from", "filter_date_to"):
        node = form.css_first(f'input[name="{name}"]')
        values[name] = find_date(node.attributes.get("value") or "") if node else None
    return {"fields": _hidden_fields(form), "from": values["filter_date_from"],
            "to": values["filter_date_to"]}  # fmt: skip


def _infobox(doc: HTMLParser, label: str) -> str | None:
    """A value of the page's "Übersicht zu Ihrem Termin" box (Standort, Anliegen, ...)."""
    box = doc.css_first("#infobox_content")
    dd = _dd_node(box, label) if box is not None else None
    for node in dd.css(".cnw_skip_translation") if dd is not None else ():
        if "visuallyhidden" not in _classes(node) and node_text(node):
            return node_text(node)
    return None


def _is_suggest(doc: HTMLParser, heads: list[str]) -> bool:
    if doc.css_first(f"form.{P.SUGGESTION_FORM}, table.sugg_table, #sugg_accordion"):
        return True
    if doc.css_first(f"form#{P.FILTER_FORM}, #details_suggest_times"):
        return True
    return any(P.STEP_TIMES in h or P.NONE_FREE_STEP in h for h in heads)


def read_suggest(doc: HTMLParser, text: str, url: str | None) -> PageView:
    if "</html>" not in text[-4096:].lower():  # before its forms: a half form is this too
        raise PageError("tevis: suggest page is cut off (no closing </html>)", url=url)
    heads = _headings(doc)
    found = suggestions(doc)
    filt = filter_form(doc)
    marker = next((P.NONE_FREE for h in heads if P.NONE_FREE in h), None)
    if marker and found["free"]:
        raise PageError("tevis: suggest page lists free times and says none is free", url=url)
    loc = (filt or {}).get("fields", {}).get("loc") or next(
        (f["loc"] for f in found["free"] if f["loc"]), None
    )
    details = {
        "office": _infobox(doc, "Standort"),
        "free": found["free"],
        "taken": found["taken"],
        "loc": loc,
        "filter": filt["fields"] if filt else None,
        "range": [d.isoformat() if d else None for d in (filt["from"], filt["to"])]
        if filt
        else None,
    }
    if marker:
        return PageView("none-free", marker=marker, reader="tevis.suggest", details=details)
    if not found["free"]:
        raise PageError(
            f"tevis: suggest page shows no free time and not the marker {P.NONE_FREE!r}", url=url
        )
    slots = [f["slot"] for f in found["free"]]
    return PageView(
        "times",
        days=[s[:10] for s in slots],
        slots=slots,
        reader="tevis.suggest",
        details=details,
    )


# --------------------------------------------------------------------------- 2021 flow


def script_calendar_id(doc: HTMLParser) -> str | None:
    """The calendar id of the ``window.tevis = window.tevis || {`` script, or None."""
    for script in doc.css("script"):
        body = script.text()
        start = body.find(P.SCRIPT_MARKER)
        if start < 0:
            continue
        section = body[start + len(P.SCRIPT_MARKER) :].split(P.SCRIPT_END, 1)[0]
        match = _CALENDAR_VALUE.search(section)
        value = match.group(1).strip().strip("\"'").strip() if match else ""
        if value:
            return value
    return None


def _minutes(value: Any, where: str) -> int:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit())
    ):
        raise PageError(f"tevis: {where}: minutes {value!r} is not an integer")
    minutes = int(value)
    if not 0 <= minutes < 24 * 60:
        raise PageError(f"tevis: {where}: minutes {minutes} outside 0..1439")
    return minutes


def week_slots(week: Any, where: str) -> list[datetime]:
    """Free slots of one caldiv week (``days`` and ``valid`` zipped)."""
    if not isinstance(week, dict):
        raise PageError(f"tevis: {where}: week is a {type(week).__name__}, not an object")
    days, valid = week.get("days"), week.get("valid")
    if not isinstance(days, list) or not isinstance(valid, list):
        raise PageError(f"tevis: {where}: 'days' and 'valid' must both be lists")
    slots = []
    for k, (day_text, entry) in enumerate(zip(days, valid, strict=False)):
        day = yyyymmdd(day_text if isinstance(day_text, str) else "", f"{where}, day #{k}")
        if not isinstance(entry, dict | list):
            raise PageError(f"tevis: {where}, day {day_text}: valid is {type(entry).__name__}")
        base = datetime(day.year, day.month, day.day)
        slots.extend(base + timedelta(minutes=_minutes(v, f"{where}, {day_text}")) for v in entry)
    return slots


CALDIV_EMPTY = "caldiv: every day's 'valid' list is empty"


def read_caldiv(value: Any, url: str | None) -> PageView:
    if not isinstance(value, dict) or "days" not in value or "valid" not in value:
        raise PageError("tevis: JSON answer is not a caldiv week with 'days' and 'valid'", url=url)
    slots = [s.strftime("%Y-%m-%d %H:%M") for s in week_slots(value, "caldiv week")]
    if not slots:
        return PageView("none-free", marker=CALDIV_EMPTY, reader="tevis.caldiv")
    return PageView("times", days=[s[:10] for s in slots], slots=slots, reader="tevis.caldiv")


# --------------------------------------------------------------------------- dispatch


def read_page(text: str, url: str | None = None) -> PageView:
    """Which TEVIS step ``text`` is and what it shows; PageError when not recognised."""
    value = json_document(text)
    if value is not None:
        return read_caldiv(value, url)
    doc = HTMLParser(text)
    message = error_message(doc, text)
    if message is not None:
        return PageView("error-page", error=message, reader="tevis.error")
    heads = _headings(doc)
    if _is_suggest(doc, heads):
        return read_suggest(doc, text, url)
    found, forms = offices(doc)
    if found:
        return PageView("offices", offices=found, reader="tevis.location", details={"forms": forms})
    if doc.css_first("input.cnc-item"):
        records, action = services(doc)
        return PageView(
            "services",
            choices=[(r["cnc"], r["name"] or "") for r in records],
            reader="tevis.select2",
            details={"services": records, "action": action, "flow": flow_of(action)},
        )
    cal = script_calendar_id(doc)
    if cal is not None:  # the 2021 calendar step: it selects one calendar, caldiv fills it
        return PageView(
            "offices",
            offices=[Office(cal, None)],
            reader="tevis.calendar-script",
            details={"calendar": cal},
        )
    found_md = departments(doc)
    if found_md:
        return PageView(
            "departments", choices=list(found_md.items()), reader="tevis.start",
            details={"departments": found_md},
        )  # fmt: skip
    for known in P.NO_CALENDAR_MESSAGES + P.SESSION_MESSAGES:
        if known in text:
            return PageView("error-page", error=known, reader="tevis.message")
    raise unknown("tevis", text, url)
