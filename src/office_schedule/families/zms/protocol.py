"""ZMS (Munich's eappointment citizen API) protocol facts, shared by the readers, the
scraper and the fake server.

Evidence (docs/protocols/systems-2026.md, sections 1 and 23): it-at-m/eappointment
``zmscitizenapi`` (``routing.php``, ``Utils/ErrorMessages.php``, ``Services/Core/
ValidationService.php``, the controller tests' expected bodies) at 7b670e4 (2026-08) and at
31e54cae0 (2025-12, the by-office endpoints); the 2025 ``/api/backend/`` answers of
``../shared/data/real-pages/zms-munich/``; the KVR watcher's live checks of 2026-09-01.
Three API generations answer the same question (free appointments of a service at offices):

- ``calendar`` (since July 2026): ``available-calendar/`` for all offices at once, bookable
  days plus the appointments of one day (the first bookable one, or ``slotsStartDate``);
- ``by-office`` (until June 2026): ``available-days-by-office/`` and
  ``available-appointments-by-office/``, offices as a CSV list;
- ``backend`` (the 2025 front end under ``/buergeransicht/api/backend/``): ``available-days``
  and ``available-appointments`` for one office each, errors as flat HTTP 200 bodies.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import quote

from ...clock import OFFICE_TZ

NAME = "zms"
DEFAULT_BASE_URL = "https://www48.muenchen.de/buergeransicht/api/citizen"
#: the citizen front end's deep link of a service (``#/services/{id}/locations/{office}``)
BOOKING_URL = "https://stadt.muenchen.de/buergerservice/terminvereinbarung.html#/services/{service}"

# -- endpoints (relative to the base URL) ------------------------------------------------
CATALOGUE = "offices-and-services/"
CALENDAR = "available-calendar/"
DAYS_BY_OFFICE = "available-days-by-office/"
APPOINTMENTS_BY_OFFICE = "available-appointments-by-office/"
#: the 2025 backend wrote its URLs without the trailing slash
BACKEND_DAYS = "available-days"
BACKEND_APPOINTMENTS = "available-appointments"
CAPTCHA_DETAILS = "captcha-details"
GENERATIONS = ("calendar", "by-office", "backend")

#: ``ValidationService::MAX_FUTURE_DAYS``: longer spans answer ``dateRangeTooLarge``
MAX_FUTURE_DAYS = 365
#: appointment epochs outside this span mean the API changed units (seconds -> ms)
EPOCH_MIN, EPOCH_MAX = 1_500_000_000, 2_500_000_000

# -- error codes (``{"errors": [{"errorCode", "errorMessage", "statusCode", "errorType"}]}``,
# -- in 2025 a flat ``{"errorCode", "errorMessage", "lastModified"}`` with HTTP 200) ------
#: the site's own "nothing free" answers
NONE_FREE_CODES = frozenset({"noAppointmentForThisScope", "noAppointmentForThisDay"})
#: "no longer available": nothing free when it answers a request for a day's appointments
SLOT_NONE_CODES = frozenset({"appointmentNotAvailable"})
#: stop asking: the limiter of the citizen API, its IP blacklist (both spellings)
BLOCKED_CODES = frozenset({"rateLimitExceeded", "ipBlacklisted", "IP_BLACKLISTED"})
CAPTCHA_CODES = frozenset(
    {
        "captchaMissing",
        "captchaInvalid",
        "captchaExpired",
        "captchaVerificationError",
        "captchaVerificationFailed",
    }
)
#: the catch-all route of an endpoint this generation does not have
NOT_FOUND = "notFound"
#: the other codes of ``ErrorMessages.php``: understood, but an error of the request
OTHER_CODES = frozenset(
    """zmsClientCommunicationError notImplemented invalidRequest requestMethodNotAllowed
    invalidLocationAndServiceCombination invalidStartDate invalidEndDate invalidSlotsStartDate
    invalidSlotsEndDate slotsStartDateAfterEndDate startDateAfterEndDate dateRangeTooLarge
    invalidDateRange invalidOfficeId invalidServiceId EMPTY_SERVICE_ARRAYS MISMATCHED_ARRAYS
    invalidServiceCount invalidDate serviceUnavailable invalidSchema internalError
    invalidApiClient sourceNotFound departmentNotFound organisationNotFound providerNotFound
    requestNotFound scopeNotFound scopesNotFound requestEntityTooLarge
    securityHeaderViolation unauthorized unknownError""".split()
)
KNOWN_CODES = NONE_FREE_CODES | SLOT_NONE_CODES | BLOCKED_CODES | CAPTCHA_CODES | OTHER_CODES
KNOWN_CODES |= {NOT_FOUND}

#: (HTTP status, errorMessage, errorType) of the codes the fake server answers
ERRORS: dict[str, tuple[int, str, str]] = {
    NOT_FOUND: (404, "Endpoint not found.", "error"),
    "invalidStartDate": (400, "startDate is required and must be a valid date.", "warning"),
    "invalidEndDate": (400, "endDate is required and must be a valid date.", "warning"),
    "invalidSlotsStartDate": (400, "slotsStartDate must be a valid date.", "warning"),
    "invalidSlotsEndDate": (400, "slotsEndDate must be a valid date.", "warning"),
    "invalidOfficeId": (400, "officeId should be a 32-bit integer.", "warning"),
    "invalidServiceId": (400, "serviceId should be a 32-bit integer.", "warning"),
    "invalidServiceCount": (
        400,
        "serviceCounts should be an array of numeric values.",
        "warning",
    ),
    "invalidLocationAndServiceCombination": (
        400,
        "The provided service(s) do not exist at the given location.",
        "warning",
    ),
    "captchaMissing": (400, "Missing captcha token.", "error"),
    "noAppointmentForThisDay": (404, "No available days found for the given criteria.", "info"),
    "appointmentNotAvailable": (
        404,
        "The selected appointment is unfortunately no longer available.",
        "error",
    ),
    "serviceUnavailable": (
        503,
        "Service Unavailable: The application is under maintenance.",
        "error",
    ),
    "IP_BLACKLISTED": (403, "Access denied - IP address is blacklisted.", "error"),
    "rateLimitExceeded": (429, "Rate limit exceeded. Please try again later.", "warning"),
}
#: the 2025 backend's flat "nothing free" answer (real page of 2025-03-20)
BACKEND_NONE_CODE = "noAppointmentForThisScope"
BACKEND_NONE_MESSAGE = "An diesem Standort gibt es aktuell leider keine freien Termine"
#: a guess: the 2025 backend's answer to a day without appointments (the German text of
#: zmscitizenapi's ``noAppointmentForThisDay`` of 2025-01; no such answer was recorded)
BACKEND_NO_DAY_MESSAGE = "Keine verfügbaren Termine für dieses Datum."

# -- statements stored when the API answered "nothing" in its own structured way ----------
NO_DAY = "zms: the API listed no bookable day"
NO_OFFICE_DAY = "zms: no bookable day the API listed names this office"
NO_SLOT = "zms: the API listed no appointment of this office on"
NO_SLOT_ANSWER = "zms: the API answered an empty appointment list"
NO_OFFICE = "zms: offices-and-services lists no office for service"
CAPTCHA_STATUS = "captcha required (scope.captchaActivatedRequired): not requested"

_ID_RE = re.compile(r"\d{1,12}", re.ASCII)


def office_id(value: object) -> str | None:
    """An office or service id (int or digit string in the answers) as text, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and _ID_RE.fullmatch(value.strip()):
        return value.strip()
    return None


def captcha_flag(value: object) -> bool | None:
    """``scope.captchaActivatedRequired``: a bool (2026), ``"0"``/``"1"`` (2025); None: odd."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip() in ("0", "1", ""):
        return value.strip() == "1"
    return None


def epoch_of(value: object) -> int | None:
    """An appointment's Unix epoch seconds (int or digit string) in a plausible span."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and EPOCH_MIN <= value <= EPOCH_MAX:
        return value
    return None


def local_time(epoch: int) -> datetime:
    """Epoch seconds (UTC) -> naive Europe/Berlin wall time, minute precision."""
    stamp = datetime.fromtimestamp(epoch, OFFICE_TZ).replace(tzinfo=None)
    return stamp.replace(second=0, microsecond=0)


def local_text(epoch: int) -> str:
    return local_time(epoch).strftime("%Y-%m-%d %H:%M")


def epoch_at(local: datetime) -> int:
    """Naive Europe/Berlin wall time -> epoch seconds (the fake server's appointments)."""
    return int(local.replace(tzinfo=OFFICE_TZ).timestamp())


# -- queries, in the order the front ends write them --------------------------------------


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{key}={quote(value, safe='-')}" for key, value in pairs)


def calendar_query(
    start: date, end: date, offices: list[str], service: str, day: date | None = None
) -> str:
    """``available-calendar/``: the browser's parameter order (``ZMSAppointmentAPI.ts``)."""
    pairs = [
        ("startDate", start.isoformat()),
        ("endDate", end.isoformat()),
        ("officeIds", ",".join(offices)),
        ("serviceIds", service),
        ("serviceCounts", "1"),
    ]
    if day is not None:
        pairs += [("slotsStartDate", day.isoformat()), ("slotsEndDate", day.isoformat())]
    return _query(pairs)


def days_by_office_query(start: date, end: date, offices: list[str], service: str) -> str:
    pairs = [
        ("startDate", start.isoformat()),
        ("endDate", end.isoformat()),
        ("officeId", ",".join(offices)),
        ("serviceId", service),
        ("serviceCount", "1"),
    ]
    return _query(pairs)


def appointments_by_office_query(day: date, offices: list[str], service: str) -> str:
    pairs = [
        ("date", day.isoformat()),
        ("officeId", ",".join(offices)),
        ("serviceId", service),
        ("serviceCount", "1"),
    ]
    return _query(pairs)
