"""Catalog rows proposed from a booking page: ``propose(url, body) -> (index_url, params)``.

``discover`` finds a candidate link, GETs it once and hands the URL and the page body to the
family's ``propose`` (``Family.propose``). Parameters come from the URL first (path parts,
query, the ``#/`` fragment of single-page apps), then from the page where the real system's
markup carries them. Spellings that carry no parameter (a trailing ``/``, ``index.php``,
tracking parameters such as ``utm_source``, session ids) are dropped. A required parameter
that neither carries raises ``CatalogError`` naming the URL; a few families (zms without a
service in the link, flexappoint) propose what can be known and leave the rest to a person.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

from ..errors import CatalogError

#: query parameters that only track where a visitor came from
TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|msclkid|mc_[ce]id|_ga|_gl|pk_.*|mtm_.*)$", re.I)
UUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"


@dataclass(frozen=True)
class Link:
    """A booking URL taken apart: ``origin`` is ``scheme://host[:port]``."""

    url: str
    origin: str
    path: str
    query: tuple[tuple[str, str], ...]
    fragment: str

    def arg(self, *names: str) -> str:
        """The first non-empty value of any of ``names`` in the query (case-insensitive)."""
        wanted = {n.lower() for n in names}
        return next((v for k, v in self.query if k.lower() in wanted and v), "")

    def rest(self, drop: set[str]) -> str:
        """The query without ``drop``, tracking and empty parameters, as ``k=v&k=v``."""
        kept = [
            f"{k}={v}"
            for k, v in self.query
            if k.lower() not in drop and not TRACKING.match(k) and (k or v)
        ]
        return "&".join(kept)

    def upto(self, pattern: str) -> str | None:
        """``origin`` + the path up to the end of ``pattern``'s first match (None: no match)."""
        found = re.search(pattern, self.path, re.IGNORECASE)
        return self.origin + self.path[: found.end()] if found else None

    def before(self, pattern: str) -> str | None:
        """``origin`` + the path before ``pattern``'s first match (None: no match)."""
        found = re.search(pattern, self.path, re.IGNORECASE)
        return self.origin + self.path[: found.start()].rstrip("/") if found else None

    def page(self, *pages: str) -> str:
        """``origin`` + the path without a trailing ``/`` or any trailing page of ``pages``."""
        path = self.path
        while True:
            stripped = path.rstrip("/")
            last = stripped.rsplit("/", 1)[-1]
            if stripped != path:
                path = stripped
            elif last and last.lower() in pages:
                path = stripped[: -len(last)]
            else:
                return self.origin + path


def link(url: str) -> Link:
    """Split ``url``; ``CatalogError`` when it is not an absolute http(s) URL."""
    text = (url or "").strip()
    split = urlsplit(text)
    if split.scheme.lower() not in ("http", "https") or not split.netloc:
        raise CatalogError(f"{text!r} is not an absolute http(s) URL")
    path = re.sub(r";jsessionid=[^/]*", "", unquote(split.path), flags=re.I)
    query = tuple(parse_qsl(split.query, keep_blank_values=True))
    origin = f"{split.scheme.lower()}://{split.netloc.lower()}"
    return Link(text, origin, re.sub("/{2,}", "/", path), query, unquote(split.fragment))


def from_body(body: str, pattern: str, group: int = 1) -> str:
    """Group ``group`` of ``pattern``'s first match in the page (entities decoded), or ''."""
    found = re.search(pattern, html.unescape(body or ""), re.IGNORECASE)
    return found.group(group) if found else ""


def missing(family: str, url: str, what: str) -> CatalogError:
    return CatalogError(f"{family}: cannot read {what} from {url!r} or its page")


# ------------------------------------------------------------------- the families


def tevis(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``base_url`` = the tenant's root: the URL without its step page (select2, suggest…)."""
    pages = ("index.php", "select2", "location", "suggest", "calendar", "caldiv", "search")
    base = link(url).page(*pages)
    return base, {"base_url": base}


def smartcjm(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``base_url`` up to ``/m/{mandant}/extern/calendar``, ``uid`` from the URL or the page;
    ``mode=earliest`` only when the link itself is the earliest-per-office search."""
    parts = link(url)
    # the page's own links are host-relative: absolute ones may lead to another calendar
    base = parts.upto(r"/m/[^/]+/extern/calendar")
    if base is None:
        href = from_body(body, r"""["'`](/m/[^/"'\s]+/extern/calendar)\b""")
        base = urljoin(parts.url, href) if href else None
    if not base:
        raise missing("smartcjm", url, "the calendar path /m/{mandant}/extern/calendar")
    uid = parts.arg("uid")
    if not re.fullmatch(UUID, uid):
        uid = from_body(body, rf"""["'`](?:/m/[^"'\s]*)?\?uid=({UUID})""")
    if not uid:
        raise missing("smartcjm", url, "the calendar uid")
    params = {"base_url": base, "uid": uid}
    if parts.arg("search_mode") == "earliest":
        params["mode"] = "earliest"
    return f"{base}/?uid={uid}", params


#: the Munich booking page, the citizen view's API and the ids its ``#/`` route carries
ZMS_API = r"/buergeransicht/api/(?:citizen|backend)"


def zms(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``service_id`` (and ``office_ids``) from ``#/services/{id}[/locations/{id}]`` or the
    query; ``base_url`` = the API the page names (else the origin of its script bundle).
    Without a service in the link the row is proposed without ``service_id``."""
    parts = link(url)
    params: dict[str, str] = {}
    service = re.search(r"/services/(\d+)", parts.fragment) or re.search(
        r"/services/(\d+)", parts.path
    )
    sid = service.group(1) if service else parts.arg("serviceId", "service_id", "serviceIds")
    sid = sid or from_body(body, r"""\bservice-id=["'](\d+)""")
    if sid:
        params["service_id"] = sid
    office = re.search(r"/locations/(\d+)", parts.fragment)
    oid = office.group(1) if office else parts.arg("locationId", "officeId", "officeIds")
    if oid:
        params["office_ids"] = oid
    api = parts.upto(ZMS_API)
    if api is None:
        href = from_body(body, rf"""((?:https?://[^\s"'<>/]+)?(?:/[^\s"'<>]*?)?{ZMS_API})""")
        bundle = from_body(body, r"""src=["'](https?://[^/"']+)/buergeransicht/""")
        api = urljoin(url, href) if href else bundle and bundle + "/buergeransicht/api/citizen"
    if api:
        params["base_url"] = api
    index = parts.origin + parts.path + (f"#/services/{sid}" if sid else "")
    if sid and oid:
        index += f"/locations/{oid}"
    return index, params


def etermin(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``et_url`` = the account's path part (as published); ``base_url`` = what precedes
    it, unless that is the scraper's default (www.etermin.net, as the catalog writes it)."""
    from .etermin.pages import DEFAULT_BASE_URL  # here: the etermin package imports us

    parts = link(url)
    path = parts.path.rstrip("/")
    head, _, slug = path.rpartition("/")
    if not slug or slug.lower() in ("api", "index.html"):
        raise missing("etermin", url, "the account (et_url) path part")
    base = parts.origin + head
    params = {"et_url": slug}
    if base != DEFAULT_BASE_URL:
        params["base_url"] = base
    return f"{base}/{slug}", params


#: tempus query parameters that are session state of a visit, not of the installation
TEMPUS_STATE = {"anlagennr", "anr", "anlagentoken", "sna", "page", "aktion", "tasks", "datum"}
TEMPUS_STATE |= {"standortrowid", "kategorie", "anliegen"}


#: the index form posts to its own page (links to tempus from elsewhere are absolute)
TEMPUS_FORM = (
    r"""<form id="formular"[^>]*action=["'](?:index\.php)?\?[^"']*\b(?:anlagennr|anr)=(\d+)"""
)


def tempus(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``base_url`` = the ``…/index.php`` page, ``anlagennr`` (or ``anr``), ``anlagentoken``
    and the installation's other query parameters as ``extra`` (``anwendung=…``)."""
    parts = link(url)
    base = parts.page()
    if not base.lower().endswith(".php"):
        base += "/index.php"
    number = parts.arg("anlagennr", "anr") or from_body(body, TEMPUS_FORM)
    if not number.isdigit():
        raise missing("tempus", url, "the installation number (anlagennr)")
    params = {"base_url": base, "anlagennr": number}
    token = parts.arg("anlagentoken")
    query = f"anlagennr={number}"
    if token:
        params["anlagentoken"] = token
        query += f"&anlagentoken={token}"
    extra = parts.rest(TEMPUS_STATE)
    if extra:
        params["extra"] = extra
        query += f"&{extra}"
    return f"{base}?{query}", params


def cleverq(url: str, body: str) -> tuple[str, dict[str, str]]:
    """No parameter: the catalog's ``index_url`` is the booking page of the site's slug."""
    parts = link(url)
    found = re.search(r"^(.*?/public/appointments/)([^/]+)", parts.path)
    if found:
        prefix, slug = parts.origin + found.group(1), found.group(2)
    else:
        slug = from_body(body, r""""site_url_name"\s*:\s*"([^"]+)""")
        prefix = parts.origin + "/public/appointments/"
    if not slug:
        raise missing("cleverq", url, "the site slug (/public/appointments/{slug}/)")
    return f"{prefix}{slug}/index.html?lang=de", {}


def qmatic(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``base_url`` up to ``/qmaticwebbooking`` (the app shell names no other root)."""
    parts = link(url)
    base = parts.upto(r"/qmaticwebbooking\b")
    if not base:
        raise missing("qmatic", url, "the /qmaticwebbooking path")
    return f"{base}/#/", {"base_url": base}


def konsentas(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``base_url`` = the tenant's root, ``signupform_id`` from ``/form/{n}`` (or the query)."""
    parts = link(url)
    found = re.search(r"/form/(\d+)", parts.path)
    form = found.group(1) if found else parts.arg("signupform_id")
    if not form.isdigit():
        raise missing("konsentas", url, "the form number (/form/{n}/)")
    base = parts.before(r"/form/\d+") if found else parts.page("index.html", "index.php")
    return f"{base}/form/{form}/", {"base_url": base, "signupform_id": form}


def flexappoint(url: str, body: str) -> tuple[str, dict[str, str]]:
    """The app's root; ``departments`` (department:service pairs) are not on the page."""
    base = link(url).page("index.html", "index.php")
    return f"{base}/#/", {}


#: netappoint query parameters of a step of the booking, not of the tenant
NETAPPOINT_STATE = {"company", "step", "year", "month", "day", "time", "branch", "phpsessid"}


#: the page's own links and form action are host-absolute paths (``/…/index.php?company=``)
NETAPPOINT_OWN = r"""["']/[^"'\s]*index\.php\?company=([^&"'\s]+)"""


def netappoint(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``base_url`` = the directory of ``index.php``, ``company`` (URL, else the page's
    form) and the tenant's other query parameters verbatim as ``extra`` (``cur_cause=0``)."""
    parts = link(url)
    base = parts.page("index.php")
    company = parts.arg("company") or from_body(body, NETAPPOINT_OWN)
    params = {"base_url": base}
    if company:
        params["company"] = company
    extra = parts.rest(NETAPPOINT_STATE)
    if extra:
        params["extra"] = extra
    # the catalog's index_url names the company only (as the real rows do); the extra
    # stands in for it on tenants without one (``index.php?loc=…``)
    query = f"company={company}" if company else extra
    return f"{base}/index.php" + (f"?{query}" if query else ""), params


def leipzig(url: str, body: str) -> tuple[str, dict[str, str]]:
    """``base_url`` = the servlet root (``…/tnv``) without ``bgr;jsessionid``, plus the
    ``START_OFFICE`` that picks the office group (``…/tnv/?START_OFFICE=kfz``)."""
    parts = link(url)
    base = parts.upto(r"/tnv(?=/|$)") or parts.page("bgr", "index.html")
    office = parts.arg("START_OFFICE")
    if office:
        base += f"/?START_OFFICE={office}"
    return base, {"base_url": base}


def impfthueringen(url: str, body: str) -> tuple[str, dict[str, str]]:
    parts = link(url)
    base = parts.upto(r"/terminvergabe(?=/|$)") or parts.page("index.php")
    return base, {"base_url": base}


def termed(url: str, body: str) -> tuple[str, dict[str, str]]:
    """An API URL (``…/v2/public/doc/{id}`` or a JSON answer) gives ``api_url`` (+ that
    ``doc_ids``); a page of the web site gives ``base_url`` = its origin."""
    parts = link(url)
    api = parts.before(r"/v2(?=/|$)")
    doc = re.search(r"/v2/public/doc/(\d+)", parts.path)
    if api is None and (body or "").lstrip()[:1] in ("{", "["):
        api = parts.page()
    if api is None:
        return parts.origin, {"base_url": parts.origin}
    params = {"api_url": api}
    if doc:
        params["doc_ids"] = doc.group(1)
    return api, params


def berlin(url: str, body: str) -> tuple[str, dict[str, str]]:
    parts = link(url)
    base = parts.before(r"/(terminvereinbarung|dienstleistung|standort)(?=/|$)") or parts.origin
    return f"{base}/terminvereinbarung/", {"base_url": base}


def impftermin(url: str, body: str) -> tuple[str, dict[str, str]]:
    parts = link(url)
    base = parts.before(r"/(impftermine|assets|rest|impfzentren)(?=/|$)") or parts.page()
    return f"{base}/impftermine", {"base_url": base}
