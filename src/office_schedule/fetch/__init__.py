"""Polite asynchronous HTTP shared by every family."""

from .client import Fetcher, Session
from .settings import Politeness

__all__ = ["Fetcher", "Politeness", "Session"]
