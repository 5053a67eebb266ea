"""konsentas: being built (placeholder so that the registry can list it; replaced by its module)."""

from __future__ import annotations

from .family import Family

NAME = "konsentas"

FAMILY = Family(name=NAME, summary="(being built)", refusal="not implemented yet")
