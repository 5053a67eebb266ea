"""Source health: is a source still being read, and since when not?

The state of a source follows from its recent snapshots alone (oldest first):

- ``disallowed``: robots.txt forbids its booking URLs (the latest snapshot says so);
- ``blocked``: the site refuses us (403/429, captcha, bot wall) — at once, no threshold;
- ``changed``: the pages no longer have the structure the reader knows (parse errors,
  unrecognised pages, zero slots without the "nothing free" marker) for ``failing_after``;
- ``failing``: every snapshot fails otherwise (network, HTTP 5xx, ...) for ``failing_after``;
- ``degraded``: zero free slots for ``degraded_after`` after a period with slots, or far
  fewer locations than usual for as long;
- ``ok``: otherwise. A problem younger than its threshold leaves the earlier state.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

STATES = ("ok", "degraded", "changed", "failing", "blocked", "disallowed", "unknown")
#: stored error classes that mean "the page is not what the reader knows"
CHANGED_CLASSES = frozenset({"ParseError", "PageError", "SilentZero", "AllZeroDay"})
BLOCKED_CLASSES = frozenset({"BlockedError"})


@dataclass(frozen=True)
class Thresholds:
    """Seconds a problem must last before it changes the state."""

    failing_after: float = 3600.0
    degraded_after: float = 24 * 3600.0
    #: "far fewer locations": below this share of the usual count
    fewer_locations: float = 0.5
    #: how far back the rules look
    window: float = 14 * 86400.0


@dataclass(frozen=True)
class Health:
    source_id: str
    state: str
    since: str | None
    detail: str = ""
    last_good: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _kind(snap: dict[str, Any], usual_locations: float | None, th: Thresholds) -> str:
    status = snap["status"]
    if status == "disallowed":
        return "disallowed"
    if status == "error":
        if snap["error_class"] in BLOCKED_CLASSES:
            return "blocked"
        if snap["error_class"] in CHANGED_CLASSES:
            return "changed"
        return "failing"
    if not snap["n_slots"]:
        return "zero"
    if usual_locations and (snap["n_locations"] or 0) < th.fewer_locations * usual_locations:
        return "few"
    return "good"


_ERRORS = ("blocked", "changed", "failing")


def _same_run(a: str, b: str) -> bool:
    return a == b or (a in _ERRORS and b in _ERRORS)


def assess(source_id: str, snapshots: list[dict[str, Any]], th: Thresholds) -> Health:
    """The health of one source from its recent snapshots (oldest first)."""
    if not snapshots:
        return Health(source_id, "unknown", None, "no snapshot in the health window")
    good = [s for s in snapshots if s["status"] in ("ok", "unchanged")]
    errors = [s for s in snapshots if s["status"] == "error"]
    last_good = good[-1]["taken_at"] if good else None
    last_error, last_error_at = None, None
    if errors:
        e = errors[-1]
        last_error = f"{e['error_class']}: {e['error_message']}"
        last_error += f" ({e['error_url']})" if e["error_url"] else ""
        last_error_at = e["taken_at"]
    counts = [s["n_locations"] for s in good if s["n_slots"]]
    usual = statistics.median(counts) if len(counts) >= 4 else None
    kinds = [_kind(s, usual, th) for s in snapshots]
    state, since, detail = _state(snapshots, kinds, len(snapshots), th)
    return Health(source_id, state, since, detail, last_good, last_error, last_error_at)


def _state(snaps, kinds, end: int, th: Thresholds) -> tuple[str, str | None, str]:
    """State after ``snaps[:end]``: the trailing run decides, else what came before it."""
    if end == 0:
        return "ok", None, ""
    latest = kinds[end - 1]
    start = end - 1
    while start > 0 and _same_run(kinds[start - 1], latest):
        start -= 1
    first, last = snaps[start], snaps[end - 1]
    lasted = last["taken_ts"] - first["taken_ts"]
    if latest == "good":
        return "ok", first["taken_at"], ""
    if latest == "disallowed":
        return "disallowed", first["taken_at"], last["error_message"] or ""
    if latest in _ERRORS:
        message = f"{last['error_class']}: {last['error_message']}"
        if latest == "blocked":
            begin = next(i for i in range(start, end) if kinds[i] == "blocked")
            return "blocked", snaps[begin]["taken_at"], message
        if lasted >= th.failing_after:
            state = "changed" if latest == "changed" else "failing"
            n = end - start
            return state, first["taken_at"], f"{n} failed snapshot(s) in a row; last: {message}"
        return _state(snaps, kinds, start, th)
    had_slots = any(k in ("good", "few") for k in kinds[:start])
    if latest == "zero" and had_slots and lasted >= th.degraded_after:
        before = next(s for s, k in zip(reversed(snaps[:start]), reversed(kinds[:start]),
                                        strict=True) if k in ("good", "few"))  # fmt: skip
        return (
            "degraded",
            first["taken_at"],
            (
                f"zero free slots since {first['taken_at']} (had {before['n_slots']} at "
                f"{before['taken_at']})"
            ),
        )
    if latest == "few" and lasted >= th.degraded_after:
        return (
            "degraded",
            first["taken_at"],
            (f"{last['n_locations']} locations, far fewer than usual"),
        )
    previous = _state(snaps, kinds, start, th)
    if previous[0] == "degraded" or (previous[0] == "ok" and previous[1] is not None):
        return previous
    return "ok", first["taken_at"], ""  # the first snapshots, or a read after failures
