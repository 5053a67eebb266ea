"""What every fake booking-system server shares: requests, replies, page scaffolding."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from html import escape

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"


@dataclass
class Reply:
    """One HTTP answer."""

    status: int = 200
    body: bytes = b""
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SimRequest:
    """One HTTP request as a family handler sees it (path relative to the source prefix)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: the query string exactly as sent (order matters to some protocols)
    raw_query: str = ""


def page(title: str, body: str, status: int = 200) -> Reply:
    text = (
        '<!DOCTYPE html>\n<html lang="de">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
    return Reply(status=status, body=text.encode("utf-8"))


def error_page(message: str, status: int = 200) -> Reply:
    return page("Fehler", f'<div class="alert alert-danger"><p>{escape(message)}</p></div>', status)


def json_reply(data: object, status: int = 200) -> Reply:
    import json

    return Reply(
        status=status, body=json.dumps(data, ensure_ascii=False).encode("utf-8"), content_type=JSON
    )


class SessionStore:
    """Server-side sessions of a fake server: (source, cookie value) -> a state dict.

    Thread-safe (the HTTP server answers in threads); beyond ``limit`` the least recently
    used session is forgotten, as a real server's session store would expire it.
    """

    def __init__(self, limit: int = 4000, token_bytes: int = 16):
        self._items: OrderedDict[tuple[str, str], dict] = OrderedDict()
        self._lock = threading.Lock()
        self.limit = limit
        self.token_bytes = token_bytes

    def get(self, source_id: str, token: str) -> dict | None:
        """The state of a known session (and mark it used), else None."""
        with self._lock:
            state = self._items.get((source_id, token)) if token else None
            if state is not None:
                self._items.move_to_end((source_id, token))
            return state

    def new(self, source_id: str, state: dict) -> str:
        """Start a session holding ``state``; returns its cookie value."""
        token = secrets.token_hex(self.token_bytes)
        with self._lock:
            self._items[(source_id, token)] = state
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return token
