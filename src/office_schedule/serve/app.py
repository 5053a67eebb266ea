"""The read-only web dashboard: server-rendered pages with Plotly charts, and JSON endpoints.

Pages and endpoints run their store work on :class:`~.cache.StoreWorkers` threads; every
asset (plotly.js, the style sheet) is served by the app itself, nothing from the internet.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import plotly
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..analysis.health import Thresholds
from ..errors import StoreError
from . import figures
from .cache import StoreWorkers
from .data import BadRequest, Dashboard, NotFound, as_json

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
PLOTLY_URL = f"/assets/plotly-{plotly.__version__}.min.js"

#: path -> what it returns (the /api index and the README list these)
ENDPOINTS = {
    "/api/sources": "every source: health, since when, snapshots, errors, newest snapshot",
    "/api/sources/{source_id}/slots?location=": "free slots of the newest snapshot by day",
    "/api/weeks": "the ISO weeks with snapshots and their days",
    "/api/hourly?week=&source=|city=": "appointments and cancellations per hour of a week",
    "/api/lead-time?week=&source=|city=": "lead times of a week's appointments, per day",
    "/api/time-of-day?week=&source=|city=": "booked slot hours; booking/cancelling hours",
    "/api/cities?week=": "the city comparison of a week (the insights summary per city)",
}


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(as_json(content), ensure_ascii=False, allow_nan=False).encode()


def _scope_args(request: Request) -> dict[str, str | None]:
    """``scope=source:ID|city:NAME|all`` of the page forms, or ``source=``/``city=``."""
    q = request.query_params
    scope = q.get("scope", "")
    kind, _, value = scope.partition(":")
    source = q.get("source") or (value if kind == "source" else None)
    city = q.get("city") or (value if kind == "city" else None)
    if source and city:
        raise BadRequest("give source or city, not both")
    return {"week": q.get("week") or None, "source": source or None, "city": city or None}


@cache
def _plotly_gzip() -> bytes:
    """plotly.min.js compressed once (4.6 MB -> 1.4 MB), not on every first visit."""
    return gzip.compress(PLOTLY_JS.read_bytes(), compresslevel=6, mtime=0)


def _report_warming(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("warming the cache failed: %s", task.exception())


def create_app(
    db: str,
    catalog: dict | None = None,
    thresholds: Thresholds | None = None,
    threads: int = 4,
    warm: bool = False,
) -> Starlette:
    """The dashboard over the store ``db`` (a SQLite path or a ``postgresql://`` URL).

    ``warm`` computes the overview and the newest week's views once at start-up.
    """
    board = Dashboard(catalog, thresholds)
    workers = StoreWorkers(db, threads)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(plotly_url=PLOTLY_URL, health_colors=figures.HEALTH_COLORS)

    async def call(fn, *args, **kw):
        return await workers.run(lambda store: fn(store, *args, **kw))

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        return templates.TemplateResponse(
            request, name, {"base": base, **context}, status_code=status
        )

    async def weeks_and_scopes(store_fn, request: Request) -> dict[str, Any]:
        args = _scope_args(request)

        def run(store):
            view = store_fn(store, **args)
            labels = board.labels(store, board.state(store))
            return view, board.weeks(store), labels

        view, weeks, labels = await workers.run(run)
        cities = sorted({lab["city"] for lab in labels.values()})
        return {"view": view, "weeks": weeks, "labels": labels, "cities": cities}

    # -- pages ---------------------------------------------------------------------------------

    async def overview_page(request: Request) -> Response:
        view = await call(board.overview)
        chart = figures.html(figures.free_slots(view), "chart-free") if view["sources"] else ""
        return page(request, "overview.html", view=view, chart=chart, title="Sources")

    async def source_page(request: Request) -> Response:
        sid = request.path_params["source_id"]
        view = await call(board.slots, sid, request.query_params.get("location") or None)
        chart = figures.html(figures.calendar(view), "chart-calendar") if view["days"] else ""
        return page(request, "source.html", view=view, chart=chart, title=sid)

    async def week_page(request: Request) -> Response:
        ctx = await weeks_and_scopes(board.hourly, request)
        chart = figures.html(figures.hourly(ctx["view"]), "chart-hourly")
        return page(request, "week.html", chart=chart, title="Week", **ctx)

    async def times_page(request: Request) -> Response:
        ctx = await weeks_and_scopes(board.lead_time, request)
        args = _scope_args(request)
        tod = await call(board.time_of_day, **args)
        charts = [
            figures.html(figures.lead_time(ctx["view"]), "chart-lead"),
            figures.html(figures.slot_hour(tod), "chart-slot-hour"),
            figures.html(figures.booking_hour(tod), "chart-booking-hour"),
        ]
        return page(request, "times.html", charts=charts, title="Lead time and time of day", **ctx)

    async def cities_page(request: Request) -> Response:
        week = request.query_params.get("week") or None

        def run(store):
            return board.cities(store, week), board.weeks(store)

        view, weeks = await workers.run(run)
        charts = []
        if view["cities"]:
            charts.append(figures.html(figures.city_counts(view), "chart-cities"))
        if any(c.get("median_days") is not None for c in view["cities"]):
            charts.append(figures.html(figures.city_lead(view), "chart-city-lead"))
        return page(
            request, "cities.html", view=view, weeks=weeks, charts=charts, title="City comparison"
        )

    # -- JSON ------------------------------------------------------------------------------------

    async def api_index(request: Request) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        return JSON({"endpoints": [{"path": base + p, "returns": d} for p, d in ENDPOINTS.items()]})

    async def api_sources(request: Request) -> Response:
        return JSON(await call(board.overview))

    async def api_slots(request: Request) -> Response:
        location = request.query_params.get("location") or None
        return JSON(await call(board.slots, request.path_params["source_id"], location))

    async def api_weeks(request: Request) -> Response:
        return JSON({"weeks": await call(board.weeks)})

    def scoped(fn):
        async def endpoint(request: Request) -> Response:
            return JSON(await call(fn, **_scope_args(request)))

        return endpoint

    async def api_cities(request: Request) -> Response:
        return JSON(await call(board.cities, request.query_params.get("week") or None))

    async def plotly_js(request: Request) -> Response:
        headers = {"Cache-Control": "public, max-age=31536000, immutable"}
        headers["Vary"] = "Accept-Encoding"
        if "gzip" not in request.headers.get("accept-encoding", ""):
            return FileResponse(PLOTLY_JS, media_type="text/javascript", headers=headers)
        body = await asyncio.to_thread(_plotly_gzip)
        headers["Content-Encoding"] = "gzip"  # the middleware passes it on as it is
        return Response(body, media_type="text/javascript", headers=headers)

    # -- errors ----------------------------------------------------------------------------------

    def failure(status: int):
        async def handler(request: Request, exc: Exception) -> Response:
            path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
            if path.startswith("/api"):
                return JSON({"error": str(exc)}, status_code=status)
            return page(request, "error.html", status, message=str(exc), title="Error")

        return handler

    @asynccontextmanager
    async def lifespan(app: Starlette):
        # in the background: the server answers at once, a request for what is being
        # computed waits for that computation instead of repeating it
        warming = asyncio.ensure_future(call(board.warm)) if warm else None
        if warming is not None:
            warming.add_done_callback(_report_warming)
        yield
        if warming is not None and not warming.done():
            warming.cancel()
        workers.close()

    routes = [
        Route("/", overview_page, name="overview"),
        Route("/sources/{source_id:str}", source_page, name="source"),
        Route("/week", week_page, name="week"),
        Route("/times", times_page, name="times"),
        Route("/cities", cities_page, name="cities"),
        Route("/api", api_index),
        Route("/api/sources", api_sources),
        Route("/api/sources/{source_id:str}/slots", api_slots),
        Route("/api/weeks", api_weeks),
        Route("/api/hourly", scoped(board.hourly)),
        Route("/api/lead-time", scoped(board.lead_time)),
        Route("/api/time-of-day", scoped(board.time_of_day)),
        Route("/api/cities", api_cities),
        Route(PLOTLY_URL, plotly_js),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GZipMiddleware, minimum_size=1024)],
        exception_handlers={
            NotFound: failure(404),
            BadRequest: failure(400),
            StoreError: failure(503),
        },
        lifespan=lifespan,
    )
    app.state.dashboard, app.state.workers = board, workers
    return app
