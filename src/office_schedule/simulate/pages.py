"""What every fake booking-system server shares: requests, replies, page scaffolding."""

from __future__ import annotations

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
