"""``read_page`` for netappoint: which step of either skin a page is, and what it shows.

Order matters and follows the reference scraper's checks (protocol notes 2.2 b): an
expired session first; then the WEB_APPOINT answer, calendar fragment and form; then the
classic index, month calendar, the "no slots" messages of the selection POST, the branch
chooser, the messages that only count without a chooser, and the day page.
"""

from __future__ import annotations

import re

from ..pages import PageView, node_text, tree, unknown, visible_text
from . import classic, webappoint
from . import protocol as p

EXPIRED = "netappoint.session-expired"

_SENTENCE = re.compile(r"[^.!?]*" + p.SESSION_EXPIRED_TEXT.pattern + r"[^.!?]*[.!?]?", re.I)


def _expired_message(doc, visible: str) -> str:
    """The longest paragraph-like element saying the session expired, else the sentence."""
    texts = [node_text(n) for n in doc.css("p, li, td, span, strong, b, h1, h2, h3, h4")]
    texts = [t for t in texts if classic.is_session_expired(t)]
    if texts:
        return max(texts, key=len)
    match = _SENTENCE.search(visible)
    return match.group(0).strip() if match else p.SESSION_EXPIRED


def read_page(text: str, url: str | None = None) -> PageView:
    """What a netappoint page shows; :class:`PageError` for a page of no known step."""
    doc = tree(text)
    visible = visible_text(doc)
    if classic.is_session_expired(visible):
        return PageView("error-page", error=_expired_message(doc, visible), reader=EXPIRED)
    view = (
        webappoint.answer_view(doc, text, url)
        or webappoint.calendar_view(doc, url)
        or webappoint.form_view(doc, url)
        or classic.index_view(doc, url)
        or classic.calendar_view(doc, url)
        or classic.message_view(visible, p.NO_SLOTS_AFTER_SELECTION)
        or classic.branches_view(doc)
        or classic.message_view(visible, p.NO_SLOTS_WITHOUT_BRANCH)
        or classic.day_view(doc, visible, url)
    )
    if view is None:
        raise unknown(
            p.NAME,
            text,
            url,
            "neither a classic index, calendar, branch chooser, day page or 'no slots' "
            "message nor a WEB_APPOINT form, answer or calendar",
        )
    return view
