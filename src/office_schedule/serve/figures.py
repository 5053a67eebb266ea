"""Plotly figures of the dashboard's views, built server-side and drawn by plotly.js."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from ..report.charts import BLUE, RED

GREY = "#7f7f7f"
HEALTH_COLORS = {
    "ok": "#2ca02c",
    "imported": "#1f77b4",
    "degraded": "#ff7f0e",
    "changed": "#9467bd",
    "failing": RED,
    "blocked": RED,
    "disallowed": "#17becf",
    "unknown": GREY,
}
CONFIG = {"displaylogo": False, "responsive": True}
#: one city can dwarf the others: let the reader switch the count axis to a log scale
SCALE_MENU = {
    "type": "buttons",
    "direction": "left",
    "x": 0,
    "xanchor": "left",
    "y": 1.02,
    "yanchor": "bottom",
    "pad": {"b": 2},
    "buttons": [
        {"label": "linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
        {"label": "log", "method": "relayout", "args": [{"yaxis.type": "log"}]},
    ],
}


def _layout(fig: go.Figure, title: str, height: int = 340, **kw: Any) -> go.Figure:
    layout = {
        "template": "plotly_white",
        "title": {"text": title, "x": 0, "xanchor": "left"},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    }
    fig.update_layout(**{**layout, **kw})
    return fig


def html(fig: go.Figure, div_id: str) -> str:
    """The figure as a ``<div>`` and the call that draws it (plotly.js is on the page)."""
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=CONFIG,
        default_width="100%",
        default_height=f"{fig.layout.height}px",
    )


def free_slots(overview: dict) -> go.Figure:
    """Free slots in each source's newest snapshot, coloured by health."""
    rows = [s for s in overview["sources"] if s["latest"]]
    rows.sort(key=lambda s: s["latest"]["free_slots"])
    fig = go.Figure(
        go.Bar(
            x=[s["latest"]["free_slots"] for s in rows],
            y=[s["source_id"] for s in rows],
            orientation="h",
            marker_color=[HEALTH_COLORS.get(s["health"], GREY) for s in rows],
            customdata=[[s["name"], s["health"], s["latest"]["taken_at"]] for s in rows],
            hovertemplate="%{y} (%{customdata[0]})<br>%{x} free slots<br>"
            "health %{customdata[1]}, as of %{customdata[2]}<extra></extra>",
        )
    )
    return _layout(
        fig,
        "Free slots now, per source",
        max(260, 60 + 18 * len(rows)),
        xaxis_title="free slots in the newest snapshot",
    )


def calendar(view: dict) -> go.Figure:
    """Free slots per day and hour of the day (a heat map calendar)."""
    days = [d["date"] for d in view["days"]]
    z = []
    for hour in range(24):
        prefix = f"{hour:02d}:"
        z.append([sum(t.startswith(prefix) for t in d["times"]) for d in view["days"]])
    used = [h for h in range(24) if any(z[h])] or list(range(7, 19))
    hours = list(range(used[0], used[-1] + 1))
    fig = go.Figure(
        go.Heatmap(
            x=days,
            y=[f"{h:02d}:00" for h in hours],
            z=[z[h] for h in hours],
            colorscale="Blues",
            colorbar={"title": {"text": "free"}},
            xgap=2,
            ygap=1,
            hovertemplate="%{x} %{y}: %{z} free<extra></extra>",
        )
    )
    where = view["location"] or "all locations"
    if view.get("location_name"):
        where = f"{view['location_name']} ({where})"
    fig.update_yaxes(autorange="reversed")
    return _layout(
        fig,
        f"{view['source_id']}, {where}: free slots per day and hour",
        420,
        xaxis={"type": "date", "dtick": 86400000, "tickformat": "%a %d.%m."},
    )


def hourly(view: dict) -> go.Figure:
    """Appointments (blue) and cancellations (red) per hour of the week."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=view["hours"],
            y=view["appointments"],
            name="appointments",
            line={"color": BLUE, "shape": "hv", "width": 1},
            fill="tozeroy",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=view["hours"],
            y=view["cancellations"],
            name="cancellations",
            line={"color": RED, "shape": "hv", "width": 1},
        )
    )
    title = f"{view['label']}, {view['week']}: appointments and cancellations per hour"
    return _layout(
        fig,
        title,
        380,
        yaxis_title="per hour",
        hovermode="x unified",
        xaxis={"type": "date", "dtick": 86400000, "tickformat": "%a %d.%m."},
    )


def lead_time(view: dict) -> go.Figure:
    cap = view["cap_days"]
    labels = [str(d) for d in view["days"][:-1]] + [f"{cap}+"]
    fig = go.Figure(
        go.Bar(x=labels, y=view["appointments"], marker_color=BLUE, name="appointments")
    )
    return _layout(
        fig,
        f"{view['label']}, {view['week']}: lead time of appointments",
        xaxis_title="days between booking and appointment",
        yaxis_title="count",
    )


def slot_hour(view: dict) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=view["hours"],
            y=view["slot_hour"]["appointments"],
            marker_color=BLUE,
            name="appointments",
        )
    )
    return _layout(
        fig,
        f"{view['label']}, {view['week']}: time of day of the booked slots",
        xaxis={"title": "hour of day", "dtick": 1},
        yaxis_title="count",
    )


def booking_hour(view: dict) -> go.Figure:
    fig = go.Figure()
    for name, colour in (("appointments", BLUE), ("cancellations", RED)):
        fig.add_trace(
            go.Bar(x=view["hours"], y=view["booking_hour"][name], name=name, marker_color=colour)
        )
    title = f"{view['label']}, {view['week']}: when appointments were booked and cancelled"
    return _layout(
        fig, title, barmode="group", xaxis={"title": "hour of day", "dtick": 1}, yaxis_title="count"
    )


def city_counts(view: dict) -> go.Figure:
    cities = view["cities"]
    fig = go.Figure()
    for name, colour in (("appointments", BLUE), ("cancellations", RED)):
        fig.add_trace(
            go.Bar(
                x=[c["city"] for c in cities],
                y=[c[name] for c in cities],
                name=name,
                marker_color=colour,
            )
        )
    return _layout(
        fig,
        f"{view['week']}: appointments and cancellations per city",
        420,
        barmode="group",
        yaxis_title="count",
        xaxis_tickangle=-45,
        updatemenus=[SCALE_MENU],
        margin={"l": 60, "r": 20, "t": 90, "b": 50},
    )


def city_lead(view: dict) -> go.Figure:
    cities = [c for c in view["cities"] if c.get("median_days") is not None]
    cities.sort(key=lambda c: c["median_days"])
    med = [c["median_days"] for c in cities]
    fig = go.Figure(
        go.Bar(
            x=[c["city"] for c in cities],
            y=med,
            marker_color=BLUE,
            name="median",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [c["p90_days"] - m for c, m in zip(cities, med, strict=True)],
                "arrayminus": [m - c["p10_days"] for c, m in zip(cities, med, strict=True)],
            },
        )
    )
    return _layout(
        fig,
        f"{view['week']}: median lead time per city (bars: 10th to 90th percentile)",
        420,
        yaxis_title="days",
        xaxis_tickangle=-45,
    )
