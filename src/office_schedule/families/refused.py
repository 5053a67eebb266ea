"""Booking systems we know of and deliberately do not read, each with the reason.

Their catalog rows stay disabled (the catalog refuses to enable them) and ``list --all``
shows why. No captcha is solved and no bot check evaded, anywhere.
"""

from __future__ import annotations

from .family import Family

DTMS = Family(
    name="dtms",
    summary="Dataport DTMS / DrivePort (Hamburg): a Blazor app over a REST API",
    refusal=(
        "its data endpoints answer 403 to non-browser clients (2026-06); access is gated on "
        "an agreement with Kasse.Hamburg/Dataport"
    ),
    fingerprints=(r"driveport\.de", r"DigiTermin", r"DTMSTerminWeb"),
)
TERMINLAND = Family(
    name="terminland",
    summary="Terminland GmbH: ASP.NET booking pages (198 municipalities)",
    refusal=(
        "no public interface: the pages are rendered by JavaScript and no anonymous JSON "
        "endpoint is known"
    ),
    fingerprints=(r"terminland\.(de|eu)",),
)
TIMEACLE = Family(
    name="timeacle",
    summary="timeacle booking app (Osnabrück)",
    refusal=(
        "the 2025 app's interface is undocumented and the 2018-2021 API is likely gone; a "
        "recorded real session is needed first"
    ),
    fingerprints=(r"timeacle\.com",),
)

FAMILIES = (DTMS, TERMINLAND, TIMEACLE)
