"""Analysis of stored snapshots: events, insights and the published office-schedule-data metrics."""

from .cutoffs import Cutoff, learn_cutoffs
from .events import detect_events, reference_events
from .insights import city_of, insights
from .metric_rows import LocState
from .published import published_metrics, write_metrics_week, write_metrics_weeks
from .stream import spilled_events, store_cutoffs, store_events

__all__ = [
    "Cutoff",
    "LocState",
    "city_of",
    "detect_events",
    "insights",
    "learn_cutoffs",
    "published_metrics",
    "reference_events",
    "spilled_events",
    "store_cutoffs",
    "store_events",
    "write_metrics_week",
    "write_metrics_weeks",
]
