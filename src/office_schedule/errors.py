"""Exceptions shared by every layer; each names what failed and where."""


class OfficeScheduleError(Exception):
    """Base class of the project's own errors."""


class ScrapeError(OfficeScheduleError):
    """A source could not be scraped: the site answered something we cannot use.

    ``url`` names the request that produced the unexpected answer.
    """

    def __init__(self, message: str, url: str | None = None):
        super().__init__(message)
        self.url = url


class BlockedError(ScrapeError):
    """The site throttles us or shows a captcha: stop asking, retry much later."""


class DisallowedError(ScrapeError):
    """robots.txt of the host disallows the URL; ``line`` is the rule that matched."""

    def __init__(self, message: str, url: str | None = None, line: str = ""):
        super().__init__(message, url)
        self.line = line


class ParseError(OfficeScheduleError):
    """A raw payload does not have the shape its family's parser expects."""


class CatalogError(OfficeScheduleError):
    """A catalog file or entry is invalid."""


class StoreError(OfficeScheduleError):
    """The snapshot store cannot be opened or is locked."""
