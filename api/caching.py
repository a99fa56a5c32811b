"""HTTP caching of GET answers (ETag, Last-Modified, Cache-Control, Vary; 304), as plain ASGI
middleware, so that an HTTP cache can stand in front of many replicas of one build.

A build never changes once written: the answer to a GET is fixed by the build, the request
(URL, Host, ``Accept``) and the code and limits serving it. So a validator can be computed
from those alone, before the app runs, and ``If-None-Match`` answered ``304`` without running
the query or rendering the page. Each ``200`` answer to a GET carries:

- ``ETag``: weak, a hash of the build's identity and the request. The identity is the hash of
  the build's manifest (every data file's content hash and the model's), of geokb's own files
  and of the limits that shape answers: replicas serving copies of one build, or builds of the
  same data by the same code, give the same ETags; a new build, or an upgrade, changes them.
- ``Last-Modified``: the time of the build (from its folder's name).
- ``Cache-Control: public, max-age=N`` (``--cache-max-age``).
- ``Vary: Accept`` besides what the route says: answers are negotiated, and the ETag hashes
  ``Accept``. Nothing is compressed here, so nothing varies with ``Accept-Encoding``.

A route that sets its own ``Cache-Control`` on a ``200`` keeps it, without validators.
Everything else gets ``Cache-Control: no-store``: queries whose answers are meant to differ
(``RAND``, ``NOW``, ``UUID`` ..., as ``kb.sparql.reading`` reads them); errors (a timeout, a
busy server, a client's quota (429), each with its ``Retry-After``, are of the moment, not of
the build); answers cut at a limit (``X-Geokb-Truncated``); redirects. POST is left alone:
caches do not store it.

With a remote store the build is not known here, and the store may change under the server at
any time: a ``/sparql`` answer's ``ETag`` is then strong, a hash of the answer itself
(:func:`answer_etag`, made by ``api.sparql`` from the bytes the store's answer became), and
``If-None-Match`` is compared with it once the query has run: a ``304`` saves sending the
answer, not running it. No ``Last-Modified`` (the store does not say when its data changed), so
``If-Modified-Since`` is not honoured there.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from functools import cache
from importlib.metadata import version
from pathlib import Path
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import Settings
from api.state import ServedStore
from kb import errors
from kb.build.manifest import MANIFEST_NAME
from kb.errors import GeokbError

TRUNCATED = b"x-geokb-truncated"
# An entity-tag in If-None-Match: W/ or not, then a quoted opaque tag (which may hold commas).
_TAG = re.compile(r'\s*(?:W/)?"([^"]*)"\s*(?:,|$)')
_STAMP = re.compile(r"(\d{8}T\d{6})-")  # builds/20261125T192828-123456789
_DROPPED_ON_304 = (b"content-length", b"content-type", b"transfer-encoding", b"content-disposition")


@dataclass(frozen=True)
class Build:
    """What the validators of one build's answers are made of."""

    identity: bytes  # hashed with each request into its ETag
    modified: float  # the build's time, seconds since the epoch
    last_modified: bytes  # the same as an HTTP-date

    def etag(self, scope: Scope, host: bytes, accept: bytes) -> bytes:
        """The weak ETag of the answer to the GET in ``scope``: the same request on the same
        build gives the same tag, whichever replica answers."""
        digest = hashlib.blake2b(self.identity, digest_size=15)
        for part in (scope["scheme"].encode(), host, scope.get("raw_path") or b"", accept):
            digest.update(b"\0" + part)
        digest.update(b"?" + scope["query_string"])
        return b'W/"' + digest.hexdigest().encode() + b'"'


@cache
def code_identity() -> bytes:
    """A hash of geokb's own files (``kb/`` and ``api/``: code, templates, static files) and
    of pyoxigraph's version: what turns a build into answers. Read once per process."""
    digest = hashlib.blake2b(version("pyoxigraph").encode(), digest_size=16)
    for package in (Path(errors.__file__).parent, Path(__file__).parent):  # kb/, api/
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(package.parent).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.digest()


def build_of(folder: Path, settings: Settings) -> Build:
    """The validators' material for the build in ``folder`` served under ``settings``."""
    digest = hashlib.blake2b(code_identity(), digest_size=16)
    digest.update(f"{settings.max_rows} {settings.max_answer_mb}".encode())
    manifest = folder / MANIFEST_NAME
    try:
        digest.update(manifest.read_bytes())
    except OSError:  # a build without a manifest: it is known by its folder only
        digest.update(b"\0" + folder.name.encode())
    found = _STAMP.match(folder.name)
    if found:
        modified = float(calendar.timegm(time.strptime(found.group(1), "%Y%m%dT%H%M%S")))
    else:  # a folder named otherwise: when it was written
        modified = float(int((manifest if manifest.exists() else folder).stat().st_mtime))
    return Build(digest.digest(), modified, formatdate(modified, usegmt=True).encode())


class Validation:
    """The validators of the current build's answers, and the caching policy of each GET."""

    def __init__(self, settings: Settings, served: ServedStore | None) -> None:
        self.served = served
        self.settings = settings
        self.control = b"public, max-age=%d" % settings.cache_max_age_s
        self._builds: dict[Path, Build] = {}
        code_identity()  # read now, not in the first request

    def _build(self, folder: Path | None = None) -> Build | None:
        if self.served is None:
            return None
        if folder is None:
            try:
                folder = self.served.current_path()  # one readlink when nothing changed
            except GeokbError:  # a damaged build: the app says so, and errors are not stored
                return None
        build = self._builds.get(folder)
        if build is None:
            build = build_of(folder, self.settings)
            self._builds = {folder: build}  # only the current build's is kept
        return build

    def policy(self, scope: Scope, volatile: bool, folder: Path | None = None) -> Policy:
        """What to do with the answer to the GET in ``scope`` (``volatile``: a query whose
        answers are meant to differ; ``folder``: the current build's, if it was looked up)."""
        if volatile:  # never stored, never 304
            return Policy(self.control, None, None, False, store=False)
        asked = _request_headers(scope["headers"])
        build = self._build(folder)
        if build is None:  # a remote store (or a damaged build): an answer's own ETag, if any
            return Policy(self.control, None, None, False, none_match=asked.get(b"if-none-match"))
        etag = build.etag(scope, asked.get(b"host", b""), asked.get(b"accept", b""))
        conditional = False  # answer 304 if the app answers 200
        if b"if-none-match" in asked:
            match = _none_match(asked[b"if-none-match"], etag)
            if match == "yes":
                return Policy(self.control, build, etag, False, not_modified=True)
            conditional = match == "any"
        elif b"if-modified-since" in asked:
            since = _http_date(asked[b"if-modified-since"])
            conditional = since is not None and build.modified <= since
        return Policy(self.control, build, etag, conditional)


class HttpCaching:
    """Adds the caching headers above to GET answers, and answers ``304`` when the client's
    copy is current (``If-None-Match`` first; else ``If-Modified-Since``). ``validation``
    may be shared with ``/sparql``'s own route (``api.sparql.SparqlFront``)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        served: ServedStore | None,
        validation: Validation | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.validation = validation or Validation(settings, served)
        self.control = self.validation.control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/static/"):  # files with validators of their own
            await self.app(scope, receive, self._fresh_only(send))
            return
        policy = self.validation.policy(scope, _volatile(scope, self.settings))
        if policy.not_modified:  # the client's copy is this build's: nothing runs
            await send(policy.start({"type": "http.response.start", "status": 304}))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = policy.start(message)
            elif policy.dropping and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the 304 has no body: the answer is read and dropped
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _fresh_only(self, send: Send) -> Send:
        async def send_with_max_age(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                headers = list(message.get("headers", []))
                if all(name.lower() != b"cache-control" for name, _ in headers):
                    message = {**message, "headers": [*headers, (b"cache-control", self.control)]}
            await send(message)

        return send_with_max_age


@dataclass
class Policy:
    """The caching headers of one GET's answer, and whether it becomes a 304.

    Without a known build (remote store, damaged build) the answer goes out with max-age and
    the ``ETag`` its route gave it, if any (a remote store's answers: :func:`answer_etag`);
    ``If-None-Match`` is compared with that tag when the answer's head comes, and a match (or
    ``*``) turns the ``200`` into a ``304``. ``If-Modified-Since`` is not honoured there.
    """

    control: bytes  # Cache-Control of an answer that may be stored
    build: Build | None
    etag: bytes | None
    conditional: bool  # answer 304 if the app answers 200 (If-Modified-Since, If-None-Match: *)
    store: bool = True  # False: a volatile query's answer
    not_modified: bool = False  # answer 304 at once, without running the app
    dropping: bool = False  # the answer became a 304: its body is dropped
    none_match: bytes | None = None  # If-None-Match, for an answer with its own ETag (no build)

    def _validators(self) -> list[tuple[bytes, bytes]]:
        headers = [(b"cache-control", self.control)]
        if self.build is not None and self.etag is not None:
            headers += [(b"etag", self.etag), (b"last-modified", self.build.last_modified)]
        return headers

    def start(self, message: Message) -> Message:
        """The ``http.response.start`` message with the caching headers (a 200 may become a
        304: ``dropping`` is then set, and the body must go)."""
        headers = list(message.get("headers", []))
        status = message["status"]
        if self.not_modified:
            return {**message, "headers": [*self._validators(), (b"vary", b"Accept")]}
        names = {name.lower() for name, _ in headers}
        if status != 200 or TRUNCATED in names or not self.store:
            headers = _without(headers, b"cache-control")
            return {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
        if b"cache-control" in names:  # the route chose: no validators
            return message
        headers = _with_vary_accept(headers)
        headers += self._validators()
        if (self.conditional and self.etag is not None) or (
            self.none_match is not None and _current(self.none_match, headers)
        ):
            self.dropping = True
            headers = [h for h in headers if h[0].lower() not in _DROPPED_ON_304]
            return {**message, "headers": headers, "status": 304}
        return {**message, "headers": headers}


def answer_etag(content_type: bytes, shape: bytes, parts: Iterable[bytes]) -> bytes:
    """The strong ETag of an answer held whole: a hash of its media type, ``shape`` (the other
    headers that shape it) and its bytes, so the tag changes when, and only when, they do."""
    digest = hashlib.blake2b(content_type + b"\0" + shape + b"\0", digest_size=16)
    for part in parts:  # hashlib lets go of the GIL for the large ones
        digest.update(part)
    return b'"' + digest.hexdigest().encode() + b'"'


def _current(none_match: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether ``If-None-Match`` names the answer whose ``headers`` carry its ETag (or is ``*``:
    the answer exists). An answer without an ETag (no-store ones) is never a 304."""
    for name, value in headers:
        if name.lower() == b"etag":
            return _none_match(none_match, value) != "no"
    return False


def _volatile(scope: Scope, settings: Settings) -> bool:
    """Whether the GET in ``scope`` asks /sparql a query that calls RAND, NOW, UUID ...: read
    through the app's reading cache, so the route's own reading of it is a lookup."""
    if scope["path"] != "/sparql" or b"query=" not in scope["query_string"]:
        return False
    # decoded as the route decodes it, so both readings are of the same text
    try:
        texts = parse_qs(scope["query_string"].decode()).get("query", [])
    except UnicodeDecodeError:
        return False  # the route refuses it
    if len(texts) != 1:
        return False  # the route refuses it
    try:
        return bool(scope["app"].state.readings.read(texts[0], settings.max_query_chars).volatile)
    except GeokbError:  # not a query the route will run: its error is not stored either
        return False


def _request_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The request headers caching reads (names lower-case, as ASGI gives them; repeated ones
    joined with commas, as HTTP allows for lists)."""
    found: dict[bytes, bytes] = {}
    for name, value in raw:
        if name in (b"host", b"accept", b"if-none-match", b"if-modified-since"):
            found[name] = found[name] + b", " + value if name in found else value.strip()
    return found


def _none_match(header: bytes, etag: bytes) -> str:
    """``"any"`` for ``*``, ``"yes"`` if a listed tag equals ``etag`` by the weak comparison
    of RFC 9110 (``W/`` ignored), else ``"no"``."""
    text = header.decode("latin-1").strip()
    if text == "*":
        return "any"
    mine = etag.decode("latin-1").removeprefix("W/")[1:-1]
    return "yes" if mine in _TAG.findall(text) else "no"


def _http_date(value: bytes) -> float | None:
    """An HTTP-date as seconds since the epoch; None if it is not one (or is a list: one
    comma is the date's own, after the day's name)."""
    if value.count(b",") > 1:
        return None
    try:
        return parsedate_to_datetime(value.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _without(headers: list[tuple[bytes, bytes]], name: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k.lower() != name]


def _with_vary_accept(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with Accept among the ones Vary names (added once, kept if there)."""
    varied = [v for k, v in headers if k.lower() == b"vary"]
    named = {n.strip().lower() for v in varied for n in v.split(b",")}
    if b"accept" in named or b"*" in named:
        return headers
    value = b", ".join([*varied, b"Accept"])
    return [*_without(headers, b"vary"), (b"vary", value)]
