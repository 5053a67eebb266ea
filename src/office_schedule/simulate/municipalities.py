"""Simulated municipal websites that link to (or embed) the simulated booking systems.

``build_sites`` spreads the booking URLs of a ``SimServer`` over ``n`` municipalities, each on
its own loopback host (127.0.2.1, .2, ...); ``SiteServer`` serves them on one port, logs every
request and answers ``/__sites__`` with the truth a crawler must find. Special sites (when
``n`` allows): one with two booking systems, one whose robots.txt disallows everything, one
with a dead booking link (the booking server answers 404), one without any booking system.
External links (a newspaper, the state's service portal) point at hosts that are neither
sites nor booking systems; they are served too, so a test can assert nobody went there.
"""

from __future__ import annotations

import csv
import posixpath
import random
import re
import threading
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from .pages import HTML, Reply, json_reply
from .server import LoopbackServers, _Handler, serve_hosts


class Booking(NamedTuple):
    family: str
    url: str
    source_id: str


STEMS = (
    "Muster", "Alten", "Birken", "Eichen", "Linden", "Tann", "Hohen", "Rosen", "Buchen",
    "Wald", "Stein", "Mühl", "Ober", "Nieder", "Kirch", "Sonnen", "Hassel", "Erlen",
)  # fmt: skip
ENDINGS = ("hausen", "dorf", "feld", "bach", "heim", "burg", "stadt", "au", "ingen", "berg")
KINDS = (("Stadt", 5), ("Gemeinde", 3), ("Landkreis", 2), ("Markt", 1))
#: "auf den Seiten der Stadt ...": the genitive of each kind
GENITIVE = {
    "Stadt": "der Stadt",
    "Gemeinde": "der Gemeinde",
    "Landkreis": "des Landkreises",
    "Markt": "des Marktes",
}
NEWS = (
    ("Sperrung der Hauptstraße", "Wegen Kanalarbeiten ist die Hauptstraße voll gesperrt."),
    ("Neue Öffnungszeiten im Bürgerbüro", "Das Bürgerbüro öffnet donnerstags bis 18 Uhr."),
    ("Sommerfest auf dem Marktplatz", "Alle Bürgerinnen und Bürger sind herzlich eingeladen."),
    ("Glasfaserausbau schreitet voran", "Im Ortsteil Nord beginnen die Tiefbauarbeiten."),
    ("Ergebnisse der Ratssitzung", "Der Rat hat den Haushalt für das kommende Jahr beschlossen."),
    ("Wertstoffhof: geänderte Zeiten", "Der Wertstoffhof ist samstags nur bis 12 Uhr geöffnet."),
    ("Blutspende im Bürgerhaus", "Der Blutspendedienst bittet um zahlreiche Teilnahme."),
    ("Stadtbücherei wieder geöffnet", "Nach der Renovierung stehen alle Medien wieder bereit."),
)
#: family -> what the town calls the office behind that booking system
OFFICES = {
    "impftermin": "Impfzentrum",
    "impfthueringen": "Impfzentrum",
    "termed": "Gesundheitsamt",
    "leipzig": "Bürgeramt",
}
OTHER_OFFICES = ("Bürgerbüro", "Kfz-Zulassungsstelle", "Standesamt", "Ausländerbehörde")
ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
LINK_STYLES = ("link", "button", "iframe", "schemeless")
#: hosts of external links: neither sites nor booking systems; nobody may request them
EXTERNAL = {"127.0.3.1": "Kreisanzeiger", "127.0.3.2": "Serviceportal des Landes"}
ROBOTS_ALL = "User-agent: *\nDisallow: /\n"
ROBOTS_INTERN = "User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nDisallow: /intern/\n"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
CSS = b"body{font-family:sans-serif;margin:0}nav ul{list-style:none}.print nav{display:none}\n"
MENU = (
    ("/rathaus/", "Rathaus"),
    ("/buergerservice/", "Bürgerservice"),
    ("/aktuelles/", "Aktuelles"),
    ("/kontakt.html", "Kontakt"),
    ("/impressum.html", "Impressum"),
    ("/datenschutz.html", "Datenschutz"),
)
TERMIN_PATHS = {
    1: "/online-termin/",
    2: "/buergerservice/terminvereinbarung.html",
    3: "/buergerservice/buergerbuero/terminvereinbarung.html",
}


@dataclass
class SimSite:
    """One municipality's website (its structure; pages are rendered per port)."""

    name: str
    host: str
    #: plain, two (two booking systems), robots (disallows all), dead (dead link), none
    kind: str
    bookings: list[Booking] = field(default_factory=list)
    #: how each booking, then each dead link, is linked: link, button, iframe, schemeless
    styles: list[str] = field(default_factory=list)
    dead_links: list[str] = field(default_factory=list)
    #: clicks from the home page to the page with the booking links (1-3)
    depth: int = 2
    #: how same-site links are written: root ("/x/"), relative ("../x/") or absolute
    link_style: str = "root"
    news: list[tuple[str, str]] = field(default_factory=list)
    phone: str = ""
    street: str = ""
    robots: str = ROBOTS_INTERN

    @property
    def termin_path(self) -> str | None:
        return TERMIN_PATHS[self.depth] if self.bookings or self.dead_links else None


# -- building ------------------------------------------------------------------------------
def _names(rng: random.Random, n: int) -> list[str]:
    kinds, weights = zip(*KINDS, strict=True)
    names: list[str] = []
    while len(names) < n:
        place = rng.choice(STEMS) + rng.choice(ENDINGS)
        name = f"{rng.choices(kinds, weights=weights)[0]} {place}"
        if all(place not in other for other in names):
            names.append(name)
        elif len(names) >= len(STEMS) * len(ENDINGS) // 2:  # few places left: number them
            names.append(f"{name} {len(names) + 1}")
    return names


def _dead_link(template: Booking, taken: set[str]) -> str | None:
    """The template's URL with a source id that does not exist."""
    stem, _, _ = template.source_id.rpartition("-")
    stem = stem or template.source_id
    dead = next(f"{stem}-{k:02d}" for k in range(99, 0, -1) if f"{stem}-{k:02d}" not in taken)
    pattern = rf"/{re.escape(template.source_id)}(?=[/?#]|$)"
    url = re.sub(pattern, f"/{dead}", template.url)
    return url if url != template.url else None


#: recognised by their vendor's host name alone (no page marker of theirs is known), which a
#: simulator on loopback addresses cannot reproduce: a crawler cannot find them here
HOST_ONLY_FAMILIES = ("etermin", "flexappoint", "termed", "impftermin")


def town_bookings(sources) -> list[Booking]:
    """The links towns put on their pages for catalog ``sources``: the index URL, and for a
    netappoint tenant that needs a cause the deep link that carries it."""
    out = []
    for s in sources:
        url, extra = s.index_url, s.params.get("extra", "")
        if s.family == "netappoint" and extra and extra not in url:
            url = f"{url}&{extra}"
        out.append(Booking(s.family, url, s.id))
    return out


def build_sites(bookings, n: int, seed: int = 0) -> list[SimSite]:
    """Spread ``bookings`` ((family, url, source_id), e.g. from ``SimServer.sources()``)
    over ``n`` municipalities, deterministically by ``seed``."""
    if not 0 <= n <= 250:
        raise ValueError("between 0 and 250 simulated municipalities")
    rng = random.Random(f"{seed}/municipalities")
    todo = [Booking(*b) for b in bookings]
    rng.shuffle(todo)
    specials = ("two", "none", "dead", "robots")[: max(0, n - 2)]
    order = list(range(n))
    rng.shuffle(order)
    kinds = {order[k]: kind for k, kind in enumerate(specials)}
    sites = []
    for i, name in enumerate(_names(rng, n)):
        site = SimSite(
            name=name,
            host=f"127.0.2.{i + 1}",
            kind=kinds.get(i, "plain"),
            depth=rng.choice((1, 2, 2, 3, 3)),
            link_style=rng.choice(("root", "root", "relative", "absolute")),
            news=rng.sample(NEWS, rng.randint(3, 4)),
            phone=f"0{rng.randint(2000, 9999)} {rng.randint(100, 999)}-{rng.randint(0, 99):02d}",
            street=f"{rng.choice(('Marktplatz', 'Rathausplatz', 'Hauptstraße'))} "
            f"{rng.randint(1, 40)}",
        )
        site.robots = ROBOTS_ALL if site.kind == "robots" else ROBOTS_INTERN
        sites.append(site)
    two = next((s for s in sites if s.kind == "two"), None)
    if two is not None and todo:
        first = todo.pop(0)
        other = next((b for b in todo if b.family != first.family), todo[0] if todo else None)
        two.bookings.append(first)
        if other is not None:
            todo.remove(other)
            two.bookings.append(other)
    dead = next((s for s in sites if s.kind == "dead"), None)
    template = (two.bookings[0] if two and two.bookings else None) or (todo[0] if todo else None)
    if dead is not None and template is not None:
        taken = {b[2] for b in bookings}
        dead.dead_links = [u for u in [_dead_link(template, taken)] if u]
    lanes = [s for s in sites if s.kind in ("robots", "plain")]
    lanes.sort(key=lambda s: s.kind != "robots")  # the disallowed site gets a booking first
    for k, booking in enumerate(todo):
        if lanes:
            lanes[k % len(lanes)].bookings.append(booking)
    for site in sites:
        count = len(site.bookings) + len(site.dead_links)
        site.styles = [rng.choice(LINK_STYLES) for _ in range(count)]
    return sites


# -- rendering -----------------------------------------------------------------------------
def _href(site: SimSite, base: str, here: str, target: str) -> str:
    """A same-site link from page ``here`` to path ``target`` in the site's own style."""
    if site.link_style == "absolute":
        return base + target
    if site.link_style == "relative":
        folder = here.rsplit("/", 1)[0] + "/"
        rel = posixpath.relpath(target, folder) if target != folder else "."
        if target.endswith("/") and rel != ".":
            rel += "/"
        return "./" if rel == "." else rel
    return target


def _a(site, base, here, target, text, cls="") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f'<a href="{escape(_href(site, base, here, target))}"{attr}>{escape(text)}</a>'


def _layout(site: SimSite, base: str, here: str, title: str, body: str, crumbs=()) -> str:
    menu = "\n".join(f"      <li>{_a(site, base, here, p, t)}</li>" for p, t in MENU)
    trail = [_a(site, base, here, "/", "Startseite")]
    trail += [_a(site, base, here, p, t) for p, t in crumbs]
    trail.append(_a(site, base, here, here, title))  # the page links to itself
    slug = site.name.split(" ", 1)[-1].lower().translate(ASCII).replace(" ", "-")
    portal = next(h for h, n in EXTERNAL.items() if n.startswith("Service"))
    phone = site.phone.replace(" ", "").replace("-", "")
    return f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} | {escape(site.name)}</title>
<link rel="stylesheet" href="/static/site.css">
<link rel="canonical" href="{escape(base + here)}">
</head>
<body id="top">
<a class="skip-link" href="#inhalt">Zum Inhalt springen</a>
<header class="site-header">
  <a class="logo" href="{escape(_href(site, base, here, "/"))}">{escape(site.name)}</a>
  <nav class="main-nav" aria-label="Hauptmenü">
    <ul>
{menu}
    </ul>
  </nav>
</header>
<nav class="breadcrumb" aria-label="Sie sind hier">{" &rsaquo; ".join(trail)}</nav>
<main id="inhalt">
<h1>{escape(title)}</h1>
{body}
<p class="page-tools"><a href="?print=1" rel="nofollow">Seite drucken</a> |
<a href="#top">nach oben</a></p>
</main>
<footer class="site-footer">
  <p>{escape(site.name)} &middot; {escape(site.street)} &middot;
  Telefon <a href="tel:{escape(phone)}">{escape(site.phone)}</a>
  &middot; <a href="mailto:info@{escape(slug)}.example">info@{escape(slug)}.example</a></p>
  <p>{_a(site, base, here, "/impressum.html", "Impressum")} |
  {_a(site, base, here, "/datenschutz.html", "Datenschutz")} |
  <a href="http://{portal}:{urlsplit(base).port}/leistungen/" target="_blank"
  rel="noopener">{EXTERNAL[portal]}</a></p>
</footer>
</body>
</html>
"""


def _booking_block(booking_url: str, office: str, style: str) -> str:
    url = escape(booking_url)
    if style == "iframe":
        return (
            f'<div class="booking-frame">\n<iframe src="{url}" title="Online-Terminvergabe '
            f'{escape(office)}" width="100%" height="900" loading="lazy"></iframe>\n</div>'
        )
    if style == "schemeless":
        url = escape("//" + booking_url.split("://", 1)[-1])
    if style == "button":
        return (
            f'<p><a class="btn btn-primary" role="button" href="{url}" target="_blank">'
            f"Jetzt Termin buchen: {escape(office)}</a></p>"
        )
    return f'<p>Termine vereinbaren Sie <a href="{url}">online über unser Buchungsportal</a>.</p>'


def _termin_page(site: SimSite) -> str:
    blocks = []
    targets = [(b.url, b.family) for b in site.bookings] + [(u, "") for u in site.dead_links]
    for k, ((url, family), style) in enumerate(zip(targets, site.styles, strict=True)):
        office = OFFICES.get(family) or OTHER_OFFICES[k % len(OTHER_OFFICES)]
        blocks.append(f"<h2>{escape(office)}</h2>\n{_booking_block(url, office, style)}")
    intro = (
        "<p>Vermeiden Sie Wartezeiten: Vereinbaren Sie Ihren Termin bequem online. Bitte "
        "bringen Sie alle erforderlichen Unterlagen mit.</p>"
    )
    return intro + "\n" + "\n".join(blocks)


BS = ("/buergerservice/", "Bürgerservice")
BB = ("/buergerservice/buergerbuero/", "Bürgerbüro")
CRUMBS = {1: [], 2: [BS], 3: [BS, BB]}


def _pages(site: SimSite, base: str) -> dict[str, tuple[str, str, list]]:
    """path -> (title, body, breadcrumbs) of every HTML page of the site."""

    def a(here: str, target: str, text: str) -> str:
        return _a(site, base, here, target, text)

    termin, port = site.termin_path, urlsplit(base).port
    kind, _, place = site.name.partition(" ")
    news = [(f"/aktuelles/meldung-{i + 1}.html", *item) for i, item in enumerate(site.news)]
    paper = next(h for h, n in EXTERNAL.items() if not n.startswith("Service"))
    quick = a("/", termin, "Online-Termin") if termin and site.depth == 1 else ""
    teasers = "\n".join(f"<li>{a('/', p, t)}</li>" for p, t, _ in news)
    home = (
        f"<p>Herzlich willkommen auf den Seiten {GENITIVE[kind]} {escape(place)}.</p>\n"
        f'<section class="quicklinks"><h2>Schnell gefunden</h2>\n<p>{a("/", *BS)} {quick}</p>'
        f"</section>\n<h2>Aktuelles</h2>\n<ul>\n{teasers}\n</ul>"
    )
    direct = a(BS[0], termin, "Terminvereinbarung") if termin and site.depth == 2 else "Fundbüro"
    service = (
        f"<p>Hier finden Sie alle Dienstleistungen der Verwaltung.</p>\n<ul>\n"
        f"<li>{a(BS[0], *BB)}</li>\n"
        f"<li>{a(BS[0], '/downloads/formular.pdf', 'Antragsformular (PDF, 80 KB)')}</li>\n"
        f"<li>{direct}</li>\n</ul>"
    )
    if not (site.bookings or site.dead_links):
        phone = escape(site.phone.replace(" ", ""))
        how = f'Termine vereinbaren Sie telefonisch: <a href="tel:{phone}">{site.phone}</a>.'
    elif site.depth == 3:
        how = a(BB[0], termin, "Zur Terminvereinbarung")
    else:
        how = "Bitte vereinbaren Sie vorab einen Termin."
    office = (
        "<p>Personalausweis, Reisepass, Meldewesen.</p>\n<p>Öffnungszeiten: Mo-Fr "
        f"8:00-12:00 Uhr, Do 14:00-18:00 Uhr</p>\n<p>{how}</p>\n"
        f"<p>{a(BB[0], '/downloads/gebuehren.pdf', 'Gebührenübersicht (PDF)')}</p>"
    )
    listing = "\n".join(f"<li>{a('/aktuelles/', p, t)}</li>" for p, t, _ in news)
    pages = {
        "/": (f"Willkommen in {place}", home, []),
        "/rathaus/": (
            "Rathaus",
            "<p>Die Verwaltung gliedert sich in drei Fachbereiche.</p>\n"
            f"<ul><li>{a('/rathaus/', *BB)}</li><li>Bauamt</li><li>Ordnungsamt</li></ul>",
            [],
        ),
        BS[0]: ("Bürgerservice", service, []),
        BB[0]: ("Bürgerbüro", office, [BS]),
        "/aktuelles/": (
            "Aktuelles",
            f"<ul>\n{listing}\n</ul>\n<p>{a('/aktuelles/', '/aktuelles/?seite=1', 'Alle')}</p>",
            [],
        ),
        "/kontakt.html": (
            "Kontakt",
            f"<p>{escape(site.name)}<br>{escape(site.street)}</p>\n"
            f"<p>{a('/kontakt.html', '/intern/', 'Mitarbeiterportal (nur intern)')}</p>",
            [],
        ),
        "/impressum.html": ("Impressum", "<p>Verantwortlich: die Verwaltung.</p>", []),
        "/datenschutz.html": (
            "Datenschutz",
            "<p>Wir speichern keine personenbezogenen Daten ohne Ihre Einwilligung.</p>",
            [],
        ),
        "/intern/": ("Intranet", f"<p>{a('/intern/', '/intern/plan.html', 'Dienstplan')}</p>", []),
        "/intern/plan.html": ("Dienstplan", "<p>Nur für Beschäftigte.</p>", []),
    }
    if termin:
        pages[termin] = ("Online-Terminvereinbarung", _termin_page(site), CRUMBS[site.depth])
    for path, title, text in news:
        story = f"http://{paper}:{port}/lokales/{path.rsplit('/', 1)[-1]}"
        more = f'<p>Mehr dazu im <a href="{story}">{EXTERNAL[paper]}</a>.</p>'
        body = f"<p>{escape(text)}</p>\n{more}"
        pages[path] = (title, body, [("/aktuelles/", "Aktuelles")])
    return pages


def render_site(site: SimSite, base: str) -> dict[str, Reply]:
    """Every page of ``site`` served at ``base`` (``http://HOST:PORT``): path -> reply."""
    out: dict[str, Reply] = {}
    for path, (title, body, crumbs) in _pages(site, base).items():
        text = _layout(site, base, path, title, body, crumbs)
        out[path] = Reply(body=text.encode("utf-8"))
    for name in ("formular", "gebuehren"):
        out[f"/downloads/{name}.pdf"] = Reply(body=PDF, content_type="application/pdf")
    out["/static/site.css"] = Reply(body=CSS, content_type="text/css")
    out["/robots.txt"] = Reply(body=site.robots.encode(), content_type="text/plain")
    return out


def _external_page(name: str) -> Reply:
    text = (
        f'<!DOCTYPE html>\n<html lang="de">\n<head><meta charset="utf-8"><title>{name}</title>'
        f"</head>\n<body><h1>{name}</h1><p>Nachrichten aus der Region.</p></body>\n</html>\n"
    )
    return Reply(body=text.encode("utf-8"))


def _not_found() -> Reply:
    text = (
        '<!DOCTYPE html>\n<html lang="de">\n<head><meta charset="utf-8"><title>Seite nicht '
        "gefunden</title></head>\n<body><h1>Seite nicht gefunden</h1>"
        '<p><a href="/">Zur Startseite</a></p></body>\n</html>\n'
    )
    return Reply(status=404, body=text.encode("utf-8"), content_type=HTML)


# -- serving -------------------------------------------------------------------------------
class _SiteHandler(_Handler):
    def do_HEAD(self) -> None:  # noqa: N802 (stdlib name)
        self.server.sim._serve(self)  # type: ignore[attr-defined]


class SiteServer(LoopbackServers):
    """Serve ``sites`` (and the external hosts they link to) on one port; a context manager."""

    def __init__(self, sites: list[SimSite], port: int = 0) -> None:
        self.sites = list(sites)
        self.port = port
        self.by_host = {s.host: s for s in self.sites}
        self.hosts = [*self.by_host, *EXTERNAL]
        #: (host, path with query) of every request, internal ``/__*`` ones excepted
        self.request_log: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._servers: list = []
        self._threads: list = []
        self._ports: dict[str, int] = {}
        self._pages: dict[str, dict[str, Reply]] = {}

    def start(self) -> SiteServer:
        self._servers, self._threads, self._ports = serve_hosts(
            self, self.hosts, self.port, _SiteHandler
        )
        self._pages = {s.host: render_site(s, self.base(s)) for s in self.sites}
        return self

    # -- addresses and truth -------------------------------------------------------------
    def base(self, site: SimSite) -> str:
        return f"http://{site.host}:{self._ports[site.host]}"

    def url(self, site: SimSite) -> str:
        """The site's home page, ``http://HOST:PORT/``."""
        return self.base(site) + "/"

    @property
    def urls(self) -> list[str]:
        return [self.url(s) for s in self.sites]

    def truth(self) -> dict[str, list[dict[str, str]]]:
        """Site URL -> the booking systems it links to (dead links are not bookings)."""
        out = {}
        for site in self.sites:
            rows = []
            for b in site.bookings:
                row = {"family": b.family, "url": b.url, "source_id": b.source_id}
                if site.kind == "robots":
                    row["robots"] = "disallowed"
                rows.append(row)
            out[self.url(site)] = rows
        return out

    def write_sites(self, path: str | Path) -> Path:
        """CSV ``name,url`` of the sites; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "url"])
            writer.writerows([s.name, self.url(s)] for s in self.sites)
        return path

    def requests_to(self, host: str) -> list[str]:
        """Paths (with query) requested from one host, in order."""
        with self._lock:
            return [p for h, p in self.request_log if h == host]

    # -- request handling ----------------------------------------------------------------
    def _serve(self, handler: _SiteHandler) -> None:
        host = handler.server.sim_host  # type: ignore[attr-defined]
        split = urlsplit(handler.path)
        path = re.sub("/{2,}", "/", split.path) or "/"
        if path == "/__sites__":
            self._send(handler, json_reply(self.truth()))
            return
        with self._lock:
            self.request_log.append((host, handler.path))
        if handler.command == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            handler.rfile.read(length)
        if host in EXTERNAL:
            self._send(handler, _external_page(EXTERNAL[host]))
            return
        pages = self._pages[host]
        reply = pages.get(path)
        if reply is None and path + "/" in pages:
            reply = Reply(status=301, headers={"Location": path + "/"})
        self._send(handler, reply or _not_found())


__all__ = [
    "HOST_ONLY_FAMILIES",
    "Booking",
    "SimSite",
    "SiteServer",
    "build_sites",
    "render_site",
    "town_bookings",
]
