"""Watches: alerts for newly free slots that match stored filters (``office-schedule watch``).

``rules`` says what a watch matches, ``watcher`` what is newly free, the message, and its
delivery with retries.
"""

from .rules import Rule, RuleError
from .watcher import Announcement, Watch, Watcher, load_watches

__all__ = ["Announcement", "Rule", "RuleError", "Watch", "Watcher", "load_watches"]
