"""``office-schedule serve``: a read-only live web dashboard over the store."""

from .app import create_app

__all__ = ["create_app"]
