"""flexappoint: being built (a placeholder so that the registry lists it)."""

from __future__ import annotations

from .family import Family

NAME = "flexappoint"

FAMILY = Family(name=NAME, summary="(being built)", refusal="not implemented yet")
