"""Checks of the JSON raw payloads the families store, with errors that name the place.

The JSON families store one object per snapshot: a list of location entries, each with an
id, a name, its free slots as ``"YYYY-MM-DD HH:MM"`` texts, an optional ``none_free``
marker (the site's own "nothing free" statement) and the URL that was read. ``Payload``
checks that shape; a family adds only what is its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ..errors import ParseError
from ..model import Location, ParsedSnapshot
from .common import parse_slot, sorted_slots

#: a stored slot text
SLOT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", re.ASCII)
TOP = "(top level)"


class Payload:
    """Readers of one family's raw payload; every error starts ``{family} payload {where}``."""

    def __init__(self, family: str) -> None:
        self.family = family

    def fail(self, where: str, problem: str) -> ParseError:
        return ParseError(f"{self.family} payload {where}: {problem}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {type(value).__name__}")
        return value

    def items(self, entry: Any, key: str, where: str = TOP) -> list[Any]:
        """``entry[key]``, which must be a list."""
        value = self.obj(entry, where).get(key)
        if not isinstance(value, list):
            raise self.fail(where, f"{key!r} must be a list, got {type(value).__name__}")
        return value

    def text(self, entry: dict[str, Any], key: str, where: str, optional: bool = False):
        """``entry[key]`` as non-empty text (None when ``optional`` and absent)."""
        value = entry.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key!r} must be non-empty text, got {value!r}")
        return value

    def slot_texts(self, entry: dict[str, Any], where: str, key: str = "slots") -> list[datetime]:
        """The ``"YYYY-MM-DD HH:MM"`` texts of ``entry[key]`` as datetimes."""
        out = []
        for j, text in enumerate(self.items(entry, key, where)):
            if not isinstance(text, str) or not SLOT.fullmatch(text):
                raise self.fail(f"{where}.{key}[{j}]", f"{text!r} is not YYYY-MM-DD HH:MM")
            out.append(parse_slot(text, f"{self.family} payload {where}.{key}[{j}]"))
        return out

    def marker(self, entry: dict[str, Any], where: str, slots: Iterable[Any]) -> str | None:
        """The entry's ``none_free`` statement, which an entry with slots must not have."""
        marker = self.text(entry, "none_free", where, optional=True)
        if marker is not None and any(True for _ in slots):
            raise self.fail(where, "has slots and a 'nothing free' statement")
        return marker

    def location(
        self,
        entry: dict[str, Any],
        where: str,
        slots: list[datetime],
        *,
        id_key: str = "id",
        name: str | None = None,
        services: tuple[str, ...] = (),
    ) -> Location:
        """A Location of an entry whose slots were read (marker and url checked here)."""
        return Location(
            id=self.text(entry, id_key, where),
            name=name,
            services=services,
            slots=sorted_slots(slots),
            empty=self.marker(entry, where, slots),
            url=self.text(entry, "url", where, optional=True),
        )

    def snapshot(
        self,
        raw: Any,
        key: str,
        read: Callable[[str, Any], Location],
        *,
        what: str = "location",
    ) -> ParsedSnapshot:
        """The locations ``read(where, entry)`` makes of ``raw[key]`` (each id once), with the
        top-level ``none_free`` statement, which only a payload without entries may have."""
        entries = self.items(raw, key)
        snapshot = ParsedSnapshot(empty=self.text(raw, "none_free", TOP, optional=True))
        if snapshot.empty is not None and entries:
            raise self.fail("none_free", f"a snapshot with {key} says there is none")
        for i, entry in enumerate(entries):
            where = f"{key}[{i}]"
            loc = read(where, self.obj(entry, where))
            if loc.id in snapshot.locations:
                raise self.fail(where, f"{what} {loc.id!r} appears twice")
            snapshot.locations[loc.id] = loc
        return snapshot


__all__ = ["SLOT", "TOP", "Payload"]
