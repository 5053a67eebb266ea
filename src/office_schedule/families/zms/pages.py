"""zms: the readers of every answer of the three API generations (``read_page``).

An answer is recognised by its shape and, when known, checked against the endpoint its URL
names. A bot's request-log entry (``{"url", "statusCode", "responseData", ...}``, as the
shared real pages of 2025 are) is read as the answer it logged. ``{"meta", "data"}`` (the
wrapping the swagger comments of ``routing.php`` describe) is unwrapped.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import pages
from ..common import is_day
from ..pages import Office, PageView
from .protocol import (
    APPOINTMENTS_BY_OFFICE,
    BACKEND_APPOINTMENTS,
    BACKEND_DAYS,
    BLOCKED_CODES,
    CALENDAR,
    CAPTCHA_CODES,
    CAPTCHA_DETAILS,
    CATALOGUE,
    DAYS_BY_OFFICE,
    KNOWN_CODES,
    NAME,
    NO_DAY,
    NO_SLOT_ANSWER,
    NONE_FREE_CODES,
    SLOT_NONE_CODES,
    captcha_flag,
    epoch_of,
    local_text,
    local_time,
    office_id,
)

#: endpoint (last path segment) -> the shape its answer must have
EXPECTED = {
    CATALOGUE.strip("/"): "catalogue",
    CALENDAR.strip("/"): "calendar",
    DAYS_BY_OFFICE.strip("/"): "office-days",
    APPOINTMENTS_BY_OFFICE.strip("/"): "office-slots",
    BACKEND_DAYS: "backend-days",
    BACKEND_APPOINTMENTS: "backend-slots",
    CAPTCHA_DETAILS: "captcha",
}
_SLOT_ENDPOINTS = {APPOINTMENTS_BY_OFFICE.strip("/"), BACKEND_APPOINTMENTS, CALENDAR.strip("/")}
_LOG_KEYS = {"url", "statusCode", "responseData"}


class _Bad(Exception):
    """A part of an answer that contradicts the shape it claims (becomes a PageError)."""


def endpoint_of(url: str | None) -> tuple[str | None, dict[str, str]]:
    if not url:
        return None, {}
    split = urlsplit(url)
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    return split.path.rstrip("/").rsplit("/", 1)[-1] or None, query


# --------------------------------------------------------------------------- catalogue


def _catalogue(value: dict[str, Any]) -> PageView:
    for key in ("offices", "services", "relations"):
        if not isinstance(value[key], list):
            raise _Bad(f"{key!r} is not a list")
    offices: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(value["offices"]):
        oid = office_id(entry.get("id")) if isinstance(entry, dict) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if oid is None or not isinstance(name, str) or not name.strip():
            raise _Bad(f"office {i} lacks a usable 'id' or 'name'")
        scope = entry.get("scope")
        if scope is not None and not isinstance(scope, dict):
            raise _Bad(f"office {oid} has a scope that is not an object")
        captcha = captcha_flag((scope or {}).get("captchaActivatedRequired"))
        if captcha is None:
            raise _Bad(f"office {oid} has an odd captchaActivatedRequired")
        disabled = entry.get("disabledByServices") or []
        if not isinstance(disabled, list):
            raise _Bad(f"office {oid} has an odd disabledByServices")
        offices[oid] = {
            "name": name.strip(),
            "captcha": captcha,
            "scope": scope is not None,
            "disabled": sorted({str(s) for s in disabled}),
        }
    services: dict[str, str] = {}
    for i, entry in enumerate(value["services"]):
        sid = office_id(entry.get("id")) if isinstance(entry, dict) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if sid is None or not isinstance(name, str) or not name.strip():
            raise _Bad(f"service {i} lacks a usable 'id' or 'name'")
        services[sid] = name.strip()
    relations: list[tuple[str, str]] = []
    for i, entry in enumerate(value["relations"]):
        if not isinstance(entry, dict):
            raise _Bad(f"relation {i} is not an object")
        oid, sid = office_id(entry.get("officeId")), office_id(entry.get("serviceId"))
        if oid is None or sid is None:
            raise _Bad(f"relation {i} lacks a usable 'officeId' or 'serviceId'")
        # (Munich 2025: 184 of 439 relations name services the list does not show)
        if entry.get("public", True) is not False:
            relations.append((oid, sid))
    return PageView(
        "services",
        offices=[Office(oid, o["name"]) for oid, o in offices.items()],
        choices=list(services.items()),
        reader="zms.offices-and-services",
        details={"offices": offices, "services": services, "relations": relations},
    )


# --------------------------------------------------------------------------- appointments


def _epochs(items: Any, where: str, day: str | None) -> list[int]:
    if not isinstance(items, list):
        raise _Bad(f"{where}: the appointments are not a list")
    out = []
    for item in items:
        epoch = epoch_of(item)
        if epoch is None:
            raise _Bad(f"{where}: {item!r} is not an appointment time (epoch seconds)")
        if day is not None and local_time(epoch).date().isoformat() != day:
            raise _Bad(f"{where}: appointment {epoch} ({local_text(epoch)}) is not on {day}")
        out.append(epoch)
    return out


def _office_slots(items: Any, where: str, day: str | None) -> dict[str, list[int]]:
    """``[{"officeId", "appointments": [epoch, ...]}, ...]`` -> office id -> epochs."""
    if not isinstance(items, list):
        raise _Bad(f"{where}: 'offices' is not a list")
    found: dict[str, list[int]] = {}
    for entry in items:
        if not isinstance(entry, dict) or "appointments" not in entry:
            raise _Bad(f"{where}: an office entry without 'appointments'")
        oid = office_id(entry.get("officeId"))
        if oid is None or oid in found:
            raise _Bad(f"{where}: an office entry without a usable (unique) 'officeId'")
        found[oid] = _epochs(entry["appointments"], f"{where}, office {oid}", day)
    return found


def _slots_view(found: dict[str, list[int]], reader: str, day: str | None, **extra) -> PageView:
    slots = [local_text(e) for epochs in found.values() for e in epochs]
    details = {"offices": found, "day": day, **extra}
    if not slots:
        marker = f"{NO_SLOT_ANSWER}" + (f" for {day}" if day else "")
        return PageView("none-free", marker=marker, reader=reader, details=details)
    earliest = [Office(oid, None, local_text(min(e))) for oid, e in found.items() if e]
    return PageView("times", slots=slots, offices=earliest, reader=reader, details=details)


# --------------------------------------------------------------------------- day lists


def _window(value: dict[str, Any]) -> tuple[str, str] | None:
    first, last = value.get("slotsStartDate"), value.get("slotsEndDate")
    if first is None and last is None:
        return None
    if not (is_day(first) and is_day(last)) or first > last:
        raise _Bad(f"an odd slot window {first!r}..{last!r}")
    return first, last


def _provider_ids(day: dict[str, Any], where: str) -> list[str]:
    text = day.get("providerIDs", "")
    if not isinstance(text, str):
        raise _Bad(f"{where}: 'providerIDs' is not text")
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if any(office_id(part) is None for part in ids):
        raise _Bad(f"{where}: odd providerIDs {text!r}")
    return ids


def _calendar(value: dict[str, Any]) -> PageView:
    """2026: ``availableDays[] = {date, providerIDs, offices[] = {officeId, appointments}}``."""
    window = _window(value)
    listed: dict[str, list[str]] = {}
    found: dict[str, list[int]] = {}
    covered: list[str] = []
    for i, day in enumerate(value["availableDays"]):
        when = day.get("date")
        if not is_day(when) or when in listed:
            raise _Bad(f"day {i} has no usable (unique) 'date' ({when!r})")
        if "offices" not in day:
            raise _Bad(f"day {when} has no 'offices'")
        where = f"day {when}"
        per_office = _office_slots(day["offices"], where, when)
        listed[when] = sorted(set(_provider_ids(day, where)) | set(per_office))
        inside = window is not None and window[0] <= when <= window[1]
        if window is not None and inside != bool(per_office):
            side = "inside" if inside else "outside"
            raise _Bad(f"{where} lies {side} the slot window {window} but lists {len(per_office)}")
        if per_office:
            covered.append(when)
        for oid, epochs in per_office.items():
            found.setdefault(oid, []).extend(epochs)
    details = {
        "listed": listed,
        "covered": covered,
        "window": window,
        "range": (value.get("startDate"), value.get("endDate")),
    }
    if not listed:
        span = (
            f" ({value.get('startDate')}..{value.get('endDate')})" if "startDate" in value else ""
        )
        details["offices"] = {}
        return PageView("none-free", marker=NO_DAY + span, reader="zms.calendar", details=details)
    view = _slots_view(found, "zms.calendar", None, **details)
    return PageView(
        "days",
        days=list(listed),
        slots=view.slots,
        offices=view.offices,
        reader="zms.calendar",
        details=view.details,
    )


def _office_days(value: dict[str, Any]) -> PageView:
    """≤ 2026-06: ``availableDays[] = {time, providerIDs}``."""
    listed: dict[str, list[str]] = {}
    for i, day in enumerate(value["availableDays"]):
        when = day.get("time")
        if not is_day(when) or when in listed:
            raise _Bad(f"day {i} has no usable (unique) 'time' ({when!r})")
        listed[when] = _provider_ids(day, f"day {when}")
    return _days_view(listed, "zms.days-by-office")


def _backend_days(value: dict[str, Any], reader: str = "zms.backend-days") -> PageView:
    """2025: ``availableDays = ["YYYY-MM-DD", ...]`` (one office per request)."""
    days = value["availableDays"]
    if not all(is_day(d) for d in days) or len(set(days)) != len(days):
        raise _Bad("availableDays holds something other than unique dates")
    return _days_view({d: [] for d in days}, reader)


def _days_view(listed: dict[str, list[str]], reader: str) -> PageView:
    if not listed:
        return PageView("none-free", marker=NO_DAY, reader=reader, details={"listed": {}})
    return PageView("days", days=list(listed), reader=reader, details={"listed": listed})


# --------------------------------------------------------------------------- errors


def _error_view(
    entries: list[tuple[str | None, str]], endpoint: str | None, flat: bool
) -> PageView:
    reader = "zms.backend-error" if flat else "zms.api-error"
    codes = [code for code, _ in entries]
    text = "; ".join(f"{message} ({code})" if code else message for code, message in entries)
    details = {"codes": codes, "messages": [m for _, m in entries]}
    for code in codes:
        if code in BLOCKED_CODES or code in CAPTCHA_CODES:
            return PageView("blocked", error=text, reader=reader, details=details)
    slot_request = endpoint is None or endpoint in _SLOT_ENDPOINTS
    nothing = NONE_FREE_CODES | (SLOT_NONE_CODES if slot_request else frozenset())
    if codes and all(code in nothing for code in codes):
        return PageView("none-free", marker=f"zms: {text}", reader=reader, details=details)
    return PageView("error-page", error=text, reader=reader, details=details)


def _entries(errors: Any) -> list[tuple[str | None, str]]:
    if not isinstance(errors, list) or not errors:
        raise _Bad("'errors' is not a non-empty list")
    out = []
    for entry in errors:
        if not isinstance(entry, dict):
            raise _Bad("an error entry is not an object")
        code, message = entry.get("errorCode"), entry.get("errorMessage")
        bare = entry.get("message")
        if code is None and message is None and isinstance(bare, str) and bare.strip():
            out.append((None, bare.strip()))  # the facade's "Unknown service source for ID …"
            continue
        if not isinstance(code, str) or code not in KNOWN_CODES:
            raise _Bad(f"an unknown error code {code!r}")
        out.append((code, message.strip() if isinstance(message, str) else ""))
    return out


# --------------------------------------------------------------------------- dispatch


def _shape(value: dict[str, Any]) -> str | None:
    if {"offices", "services", "relations"} <= set(value):
        return "catalogue"
    if "availableDays" in value:
        days = value["availableDays"]
        if not isinstance(days, list):
            return None
        kinds = {
            "calendar"
            if isinstance(d, dict) and "date" in d
            else "office-days"
            if isinstance(d, dict) and "time" in d
            else "backend-days"
            if isinstance(d, str)
            else None
            for d in days
        }
        if len(kinds) == 1 and None not in kinds:
            return kinds.pop()
        if not days:
            return "calendar" if "slotsStartDate" in value or "startDate" in value else "days"
        return None
    if "appointmentTimestamps" in value:
        return "backend-slots"
    if "offices" in value and "services" not in value:
        return "office-slots"
    if "captchaEnabled" in value or "siteKey" in value:
        return "captcha"
    return None


def _read(value: Any, url: str | None) -> PageView:
    endpoint, query = endpoint_of(url)
    if (
        isinstance(value, dict)
        and {"meta", "data"} <= set(value)
        and isinstance(value["data"], dict)
    ):
        if "days" in value["data"]:
            raise _Bad("the internal zmsapi /calendar/availability/ shape (meta/data with days)")
        value = value["data"]
    if not isinstance(value, dict):
        raise _Bad("not a JSON object")
    if "errors" in value:
        return _error_view(_entries(value["errors"]), endpoint, flat=False)
    if "errorCode" in value:
        return _error_view(_entries([value]), endpoint, flat=True)
    shape = _shape(value)
    wanted = EXPECTED.get(endpoint or "")
    if shape is None:
        raise _Bad("no known answer shape")
    if shape == "days" and wanted in ("calendar", "office-days", "backend-days"):
        shape = wanted
    if wanted is not None and shape != wanted:
        raise _Bad(f"a {shape} answer where the URL asks for {wanted}")
    day = query.get("date") if shape in ("office-slots", "backend-slots") else None
    if day is not None and not is_day(day):
        raise _Bad(f"the request names an odd date {day!r}")
    if shape == "catalogue":
        return _catalogue(value)
    if shape == "calendar":
        return _calendar(value)
    if shape == "office-days":
        return _office_days(value)
    if shape in ("backend-days", "days"):
        return _backend_days(value, "zms.backend-days" if shape == "backend-days" else "zms.days")
    if shape == "office-slots":
        return _slots_view(
            _office_slots(value["offices"], "offices", day), "zms.appointments-by-office", day
        )
    if shape == "backend-slots":
        oid = office_id(query.get("officeId")) if query.get("officeId") else None
        epochs = _epochs(value["appointmentTimestamps"], "appointmentTimestamps", day)
        return _slots_view({oid or "?": epochs}, "zms.backend-appointments", day, office=oid)
    enabled = value.get("captchaEnabled")
    return PageView(
        "start",
        reader="zms.captcha-details",
        details={"captcha_enabled": enabled, "puzzle": value.get("puzzle")},
    )


def read_page(text: str, url: str | None = None) -> PageView:
    """Which answer of the ZMS citizen API ``text`` is and what it shows."""
    value = pages.json_document(text)
    if value is None:
        raise pages.unknown(NAME, text, url, "not a JSON answer of the ZMS citizen API")
    if isinstance(value, dict) and _LOG_KEYS <= set(value) and isinstance(value["url"], str):
        url, value = value["url"], value["responseData"]  # a bot's logged request
        text = json.dumps(value)
    try:
        return _read(value, url)
    except _Bad as exc:
        raise pages.unknown(NAME, text, url, str(exc)) from None
