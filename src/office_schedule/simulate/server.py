"""Real HTTP servers on loopback that publish a ``SimWorld`` in each family's protocol.

One ``ThreadingHTTPServer`` per host address (127.0.0.1, 127.0.0.2, … all work on Linux
loopback); sources are spread over the hosts round-robin under the prefix ``/{source_id}``.
``/__truth__`` (``?weeks=N``, default the sweep's 4, ``all``: every day), ``/__log__`` and
``/__now__`` expose the ground truth on every host, ``/__fault__?source=SID&mode=MODE``
changes a fault while serving; these are not recorded in ``request_log``. ``/robots.txt``
answers the host's text (``robots``) or 404.
"""

from __future__ import annotations

import csv
import email.utils
import errno
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from ..catalog.catalog import COLUMNS, Source
from ..families import FAMILIES
from ..sweep import DEFAULT_WEEKS
from .families import all_fault_modes, family_server, fault_modes
from .model import SimWorld, fmt
from .pages import HTML, Reply, SimRequest, error_page, json_reply

FAULT_MODES = all_fault_modes()
SLOW_SECONDS = 30.0
#: what the ``429`` fault sends as Retry-After: seconds, an HTTP-date, or ``date+N`` (the
#: HTTP-date N seconds after the answer, rounded up so it is never earlier)
RETRY_AFTER = "3600"
#: generic faults that may end after ``storm_requests`` answers
STORM_FAULTS = ("429", "403")
TEXT = "text/plain; charset=utf-8"

#: fault ``changed``: the site was moved to a new portal whose shell no reader knows
CHANGED_PAGE = """<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Neues Terminportal</title>
<link rel="stylesheet" href="/portal/assets/app.7c41e2.css">
</head>
<body class="portal">
<div id="portal-root" data-portal-version="2.0">
  <header class="portal-header"><span class="portal-logo">Neues Terminportal</span></header>
  <main class="portal-main">
    <h1>Neues Terminportal</h1>
    <p>Wir haben unsere Online-Buchung erneuert. Bitte aktivieren Sie JavaScript, um die
    Anwendung zu laden.</p>
  </main>
  <footer class="portal-footer">&copy; Stadtverwaltung</footer>
</div>
<script src="/portal/assets/app.7c41e2.js" defer></script>
</body>
</html>
"""


def retry_after_header(value: str, now: float | None = None) -> str:
    """The Retry-After to send for ``value`` (seconds, an HTTP-date or ``date+N``)."""
    value = value.strip()
    if value.startswith("date+"):
        try:
            ahead = float(value[5:])
        except ValueError:
            raise ValueError(f"Retry-After {value!r}: date+SECONDS expected") from None
        return email.utils.formatdate(math.ceil((now or time.time()) + ahead), usegmt=True)
    if not value.isdigit() and email.utils.parsedate_tz(value) is None:
        raise ValueError(f"Retry-After {value!r} is neither seconds nor an HTTP-date")
    return value


def parse_faults(faults: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """Accept ``{"sim-tevis-02": "500"}`` or strings like ``"sim-tevis-02=500"``."""
    if not faults:
        return {}
    if isinstance(faults, Mapping):
        pairs = dict(faults)
    else:
        pairs = {}
        for item in faults:
            sid, sep, mode = item.partition("=")
            if not sep:
                raise ValueError(f"fault {item!r} is not SOURCE_ID=MODE")
            pairs[sid.strip()] = mode.strip()
    for sid, mode in pairs.items():
        if mode not in all_fault_modes():
            known = ", ".join(all_fault_modes())
            raise ValueError(f"unknown fault mode {mode!r} for {sid} ({known})")
    return pairs


def _is_agent(line: str, agent: str | None = None) -> bool:
    """A robots.txt ``User-agent`` line (naming ``agent``, if given)."""
    name, _, value = line.partition(":")
    named = value.split("#")[0].strip()
    return name.strip().lower() == "user-agent" and (agent is None or named == agent)


def _cookies(header: str) -> dict[str, str]:
    jar = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            jar[name] = value
    return jar


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "office-schedule-simulator/1.0"
    timeout = 15  # idle keep-alive connections are dropped after this

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: avoid Nagle + delayed-ACK stalls
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self.server.sim._serve(self)  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        self.server.sim._serve(self)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


def family_hosts(world: SimWorld) -> dict[str, str]:
    """Source id -> loopback address, one address per family (127.0.0.1, .2, ... in the
    order the families first appear): real systems live on their own hosts, so a sweep keeps
    each family's politeness on its own lane."""
    kinds = list(dict.fromkeys(s.family for s in world.sources.values()))
    return {sid: f"127.0.0.{kinds.index(s.family) + 1}" for sid, s in world.sources.items()}


class PortInUseError(OSError):
    """The asked port is taken on one of the loopback addresses."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def serve_hosts(owner, hosts: Iterable[str], port: int, handler=_Handler):
    """Bind one ``ThreadingHTTPServer`` per host, all on one port (``port`` 0: the first free
    one is tried on the others too) and serve each in a thread; ``owner._serve(handler)``
    answers. Returns (servers, threads, host -> port)."""
    servers: list[ThreadingHTTPServer] = []
    threads: list[threading.Thread] = []
    ports: dict[str, int] = {}
    wanted = port
    for host in hosts:
        try:
            httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            if wanted:
                for other in servers:
                    other.shutdown()
                    other.server_close()
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUseError(exc.errno, f"port {port} on {host} is in use") from None
                raise
            httpd = ThreadingHTTPServer((host, 0), handler)
        httpd.daemon_threads = True
        httpd.sim = owner  # type: ignore[attr-defined]
        httpd.sim_host = host  # type: ignore[attr-defined]
        servers.append(httpd)
        ports[host] = httpd.server_address[1]
        port = port or httpd.server_address[1]  # try the same port on the other hosts
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        thread.start()
        threads.append(thread)
    return servers, threads, ports


class LoopbackServers:
    """One HTTP server thread per loopback host; ``start`` fills ``_servers``/``_threads``."""

    _servers: list[ThreadingHTTPServer]
    _threads: list[threading.Thread]

    def start(self):  # pragma: no cover - each subclass binds its own handler
        raise NotImplementedError

    def stop(self) -> None:
        for httpd in self._servers:
            httpd.shutdown()
            httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True


class SimServer(LoopbackServers):
    """Serve ``world`` over HTTP; use as a context manager."""

    def __init__(
        self,
        world: SimWorld,
        hosts: Iterable[str] = ("127.0.0.1",),
        port: int = 0,
        latency: float = 0.0,
        faults: Mapping[str, str] | Iterable[str] | None = None,
        assignment: Mapping[str, str] | None = None,
        robots: Mapping[str, str] | None = None,
    ) -> None:
        self.world = world
        self.hosts = tuple(hosts) or ("127.0.0.1",)
        self.port = port
        self.latency = latency
        self.faults = parse_faults(faults)
        unknown = set(self.faults) - set(world.sources)
        if unknown:
            raise ValueError(f"faults name unknown source(s): {', '.join(sorted(unknown))}")
        for sid, mode in self.faults.items():
            self._check_fault(sid, mode)
            if mode == "empty":
                world.set_booked_out(sid)
        #: host -> robots.txt text; hosts without one answer 404
        self.robots: dict[str, str] = dict(robots or {})
        #: extra ``/__NAME__`` endpoints: name -> query -> JSON data (e.g. ``__sites__``)
        self.internal: dict[str, Callable[[dict[str, str]], object]] = {}
        self.slow_seconds = SLOW_SECONDS
        #: Retry-After of the ``429`` fault (None: no header); ``set_retry_after`` per source
        self.retry_after: str | None = RETRY_AFTER
        #: answers a ``429``/``403`` fault set from now on gives before the source answers
        #: normally again (None: until the fault is changed)
        self.storm_requests: int | None = None
        self._retry_after_of: dict[str, str | None] = {}
        self._storm_left: dict[str, int] = {}
        self.request_log: list[tuple[str, str]] = []
        #: (host, arrival, answered) per request, monotonic seconds: politeness as the host sees it
        self.timeline: list[tuple[str, float, float]] = []
        # source -> host: round-robin unless given (e.g. to mirror the real catalog's hosts)
        self.assignment = {
            sid: self.hosts[i % len(self.hosts)] for i, sid in enumerate(world.sources)
        }
        for sid, host in (assignment or {}).items():
            if sid not in world.sources or host not in self.hosts:
                raise ValueError(f"assignment {sid} -> {host}: unknown source or host")
            self.assignment[sid] = host
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._ports: dict[str, int] = {}

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SimServer:
        self._servers, self._threads, self._ports = serve_hosts(self, self.hosts, self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        super().stop()

    # -- faults and robots.txt -----------------------------------------------------------
    def _check_fault(self, source_id: str, mode: str) -> None:
        src = self.world.sources.get(source_id)
        if src is None:
            raise ValueError(f"fault names unknown source {source_id!r}")
        if mode not in fault_modes(src.family):
            raise ValueError(
                f"fault {mode!r} is not simulated for {source_id} (family {src.family}: "
                f"{', '.join(fault_modes(src.family))})"
            )

    def set_fault(self, source_id: str, mode: str | None, requests: int | None = None) -> None:
        """Switch a source's fault while serving (None: answer normally again).

        A ``429``/``403`` storm lasts ``requests`` answers (default ``storm_requests``).
        """
        if mode is not None:
            self._check_fault(source_id, mode)
        elif source_id not in self.world.sources:
            raise ValueError(f"fault names unknown source {source_id!r}")
        requests = self.storm_requests if requests is None else requests
        with self._lock:
            faults = dict(self.faults)
            if mode is None:
                faults.pop(source_id, None)
            else:
                faults[source_id] = mode
            self._storm_left.pop(source_id, None)
            if mode in STORM_FAULTS and requests is not None:
                self._storm_left[source_id] = max(0, int(requests))
            self.faults = faults  # replaced whole: handler threads read it without the lock
            self.world.set_booked_out(source_id, mode == "empty")

    def set_retry_after(self, source_id: str, value: str | int | None) -> None:
        """Retry-After of every 429 answer of one source, the family's own throttle pages
        included: seconds, an HTTP-date or ``date+N``; None: back to the default."""
        if source_id not in self.world.sources:
            raise ValueError(f"unknown source {source_id!r}")
        if value is not None:
            retry_after_header(str(value))  # fail here, not while answering
        with self._lock:
            if value is None:
                self._retry_after_of.pop(source_id, None)
            else:
                self._retry_after_of[source_id] = str(value)

    def _storm_turn(self, source_id: str) -> bool:
        """Count one answer of a storm; False (and the fault cleared) once it is spent."""
        with self._lock:
            left = self._storm_left.get(source_id)
            if left is None:
                return True
            if left > 0:
                self._storm_left[source_id] = left - 1
                return True
            del self._storm_left[source_id]
            faults = dict(self.faults)
            faults.pop(source_id, None)
            self.faults = faults
            return False

    def disallow(self, source_id: str) -> str:
        """Disallow one source's paths for every user agent in its host's robots.txt."""
        if source_id not in self.world.sources:
            raise ValueError(f"unknown source {source_id!r}")
        host = self.assignment[source_id]
        rules = f"Disallow: /{source_id}/\nDisallow: /{source_id}\n"
        with self._lock:
            text = self.robots.get(host, "")
            lines = text.splitlines(keepends=True)
            at = next((i for i, ln in enumerate(lines) if _is_agent(ln, "*")), None)
            if rules in text:
                pass
            elif at is None:
                gap = "\n" if lines else ""
                text = "".join(lines) + f"{gap}User-agent: *\n{rules}"
            else:
                while at + 1 < len(lines) and _is_agent(lines[at + 1]):
                    at += 1  # the group's rules follow all of its user-agent lines
                text = "".join(lines[: at + 1]) + rules + "".join(lines[at + 1 :])
            self.robots[host] = text
        return text

    # -- addresses and catalog -----------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        """Base URL (``http://HOST:PORT``) of each host, in host order."""
        return [f"http://{h}:{self._ports[h]}" for h in self.hosts if h in self._ports]

    def base_url(self, source_id: str) -> str:
        host = self.assignment[source_id]
        return f"http://{host}:{self._ports[host]}/{source_id}"

    def sources(self) -> list[Source]:
        """Catalog entries of the simulated sources, pointing at this server."""
        out = []
        for sid, src in self.world.sources.items():
            index_url, params = family_server(src.family).catalog_entry(src, self.base_url(sid))
            out.append(
                Source(
                    id=sid,
                    name=src.name,
                    family=src.family,
                    index_url=index_url,
                    params=params,
                    note="simulated",
                    interval_minutes=15,
                    # like their real counterparts: runs only when named with -i
                    enabled=not FAMILIES[src.family].disabled_by_default,
                )
            )
        return out

    def catalog_rows(self) -> list[dict[str, str]]:
        return [s.as_row() for s in self.sources()]

    def write_catalog(self, path: str | Path) -> Path:
        """Write the catalog CSV of the simulated sources; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[*COLUMNS, "interval_minutes"])
            writer.writeheader()
            writer.writerows(self.catalog_rows())
        return path

    def pace(self, host: str) -> tuple[int, float | None]:
        """As ``host`` saw it: the most requests in flight at once, and the shortest pause
        between an answer and the next request's arrival (None below two requests)."""
        with self._lock:
            spans = sorted((a, b) for h, a, b in self.timeline if h == host)
        most, gap, ends = 0, None, []
        for arrival, answered in spans:
            ends = [e for e in ends if e > arrival] + [answered]
            most = max(most, len(ends))
        for (_, first_end), (second_start, _) in zip(spans, spans[1:], strict=False):
            pause = second_start - first_end
            gap = pause if gap is None else min(gap, pause)
        return most, gap

    def requests_for(self, source_id: str) -> list[str]:
        """Paths requested under one source's prefix (thread-safe copy)."""
        prefix = f"/{source_id}"
        with self._lock:
            return [p for _, p in self.request_log if p == prefix or p.startswith(prefix + "/")]

    # -- request handling ----------------------------------------------------------------
    def _serve(self, handler: _Handler) -> None:
        host = handler.server.sim_host  # type: ignore[attr-defined]
        raw = handler.path
        split = urlsplit(raw)
        path = re.sub("/{2,}", "/", split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        form: dict[str, str] = {}
        if handler.command == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            body = handler.rfile.read(length).decode("utf-8", "replace") if length else ""
            form = dict(parse_qsl(body, keep_blank_values=True))
        if path.startswith("/__"):
            self._send(handler, self._internal(path, query))
            return
        started = time.monotonic()
        with self._lock:
            self.request_log.append((host, raw))
        if path == "/robots.txt":
            text = self.robots.get(host)
            reply = Reply(body=text.encode(), content_type=TEXT) if text is not None else None
            self._send(handler, reply or error_page("Seite nicht gefunden", status=404))
            with self._lock:
                self.timeline.append((host, started, time.monotonic()))
            return
        try:
            self._answer(handler, host, path, query, form, split.query)
        finally:
            with self._lock:
                self.timeline.append((host, started, time.monotonic()))

    def _answer(self, handler, host: str, path: str, query, form, raw_query: str) -> None:
        parts = path.split("/", 2)
        sid = parts[1] if len(parts) > 1 else ""
        rest = "/" + parts[2] if len(parts) > 2 else "/"
        src = self.world.sources.get(sid)
        if src is None or self.assignment[sid] != host:
            self._send(handler, error_page("Seite nicht gefunden", status=404))
            return
        fault = self.faults.get(sid)
        if fault in STORM_FAULTS and not self._storm_turn(sid):
            fault = None
        if fault == "down":
            handler.close_connection = True  # hang up without a word
            return
        if fault == "slow":
            self._stop.wait(self.slow_seconds)
        if self.latency > 0:
            self._stop.wait(self.latency)
        if fault == "500":
            reply = error_page("Interner Serverfehler", status=500)
        elif fault == "429":
            reply = error_page("Too Many Requests", status=429)
            value = self._retry_after_of.get(sid, self.retry_after)
            if value is not None:
                reply.headers["Retry-After"] = retry_after_header(value)
        elif fault == "403":
            reply = error_page("Zugriff verweigert", status=403)
        elif fault == "changed":
            reply = Reply(body=CHANGED_PAGE.encode("utf-8"), content_type=HTML)
        else:
            if fault == "empty":
                fault = None  # the world publishes nothing: each family's own empty answer
            request = SimRequest(
                method=handler.command,
                path=rest,
                query=query,
                form=form,
                cookies=_cookies(handler.headers.get("Cookie", "")),
                headers={k.lower(): v for k, v in handler.headers.items()},
                raw_query=raw_query,
            )
            reply = family_server(src.family).handle(self.world, src, request, fault)
        override = self._retry_after_of.get(sid)
        if reply.status == 429 and override is not None:
            reply.headers["Retry-After"] = retry_after_header(override)
        self._send(handler, reply)

    def _internal(self, path: str, query: dict[str, str]) -> Reply:
        name = path.strip("/")
        if name == "__truth__":
            # the look-ahead of a sweep by default, so `show --format json` compares equal;
            # weeks=all: every published day
            weeks = query.get("weeks") or str(DEFAULT_WEEKS)
            data: object = self.world.truth(int(weeks) if weeks.isdigit() else None)
        elif name == "__log__":
            with self.world.lock:
                data = list(self.world.log)
        elif name == "__now__":
            data = {"now": fmt(self.world.now())}
        elif name == "__fault__":
            sid, mode = query.get("source", ""), query.get("mode", "")
            requests, retry_after = query.get("requests"), query.get("retry_after")
            try:
                if requests is not None and not requests.isdigit():
                    raise ValueError(f"requests={requests!r} is not a count")
                if retry_after is not None:
                    self.set_retry_after(sid, retry_after or None)
                self.set_fault(sid, mode or None, int(requests) if requests else None)
            except ValueError as exc:
                return json_reply({"error": str(exc)}, status=400)
            data = {"source": sid, "mode": mode or None}
        elif name in self.internal:
            data = self.internal[name](query)
        else:
            return error_page("Seite nicht gefunden", status=404)
        return json_reply(data)
