"""Notifications through Apprise (e-mail, Matrix, Telegram, ntfy, Signal, JSON webhooks, ...)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import apprise

log = logging.getLogger(__name__)


class NotifyError(ValueError):
    """A notification URL that Apprise does not understand."""


class Notifier:
    """Sends one message to every URL, each URL on its own so one broken target never
    makes the others receive a message twice."""

    def __init__(self, urls: Sequence[str], attempts: int = 3, backoff: float = 1.0):
        self.urls = list(urls)
        self.attempts = attempts
        self.backoff = backoff
        self._targets: list[apprise.Apprise] = []
        for url in self.urls:
            target = apprise.Apprise()
            if not target.add(url):
                raise NotifyError(
                    f"{redact(url)} is not a notification URL Apprise understands "
                    "(see https://github.com/caronc/apprise/wiki for the URL forms)"
                )
            self._targets.append(target)

    def __bool__(self) -> bool:
        return bool(self._targets)

    async def send(self, title: str, body: str, skip: set[int] | None = None) -> set[int]:
        """Deliver to every target not in ``skip``; returns the indices that took it."""
        delivered: set[int] = set()
        for i, target in enumerate(self._targets):
            if skip and i in skip:
                continue
            for attempt in range(1, self.attempts + 1):
                if await target.async_notify(body=body, title=title):
                    delivered.add(i)
                    break
                if attempt < self.attempts:
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            else:
                log.error(
                    "notification to %s failed %d times; kept to retry after the next snapshot",
                    redact(self.urls[i]),
                    self.attempts,
                )
        return delivered


def redact(url: str) -> str:
    """The scheme and host only: notification URLs carry tokens and passwords."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("@")[-1].split("/")[0].split("?")[0]
    return f"{scheme}{sep}{host}/…" if sep else "(not a URL)"
