"""A remote SPARQL 1.1 store (Oxigraph server, Fuseki, Virtuoso, GraphDB ...) as the store.

``push`` sends the graphs a build changed: Graph Store Protocol PUT/DELETE where the server
has a GSP endpoint, else one SPARQL Update request per graph (``DROP SILENT GRAPH`` +
``INSERT DATA``, and the triples with blank nodes in ``INSERT { } WHERE {}``). A full push
writes every graph first, then drops the stale ones; the build manifest is pushed last, into
its own graph, so a push that fails half-way (full or not) leaves the old manifest: the next
build sees the files as changed and pushes them again.

Queries see what the embedded store shows: when the client names no dataset, the default
graph (and the named graphs) are the build's own graphs, as listed with the manifest, sent as
``default-graph-uri`` / ``named-graph-uri``; the manifest graph itself is never among them.

Every request (query, update, GSP) goes through one urllib opener per store, so one way to
authenticate serves them all: ``GEOKB_STORE_TOKEN`` (bearer), or ``GEOKB_STORE_USER`` and
``GEOKB_STORE_PASSWORD`` with ``GEOKB_STORE_AUTH`` = ``basic`` (the default) or ``digest``.
Credentials are never printed. The store's errors are reported with its own reason, decoded.

Stores answer alike where geokb can make them: Virtuoso's ASK sent as a table and its
xsd:boolean written ``1``/``0`` are read as the others write them, and its DESCRIBE is asked
for the embedded store's kind of description. What no client can change (GROUP_CONCAT,
ordering, geometries) is listed in docs/stores.md.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from typing import IO, NamedTuple
from urllib.parse import urlencode, urlsplit, urlunsplit

import pyoxigraph as ox
from rdflib import URIRef

from kb.build.manifest import Compiled, Manifest, from_json
from kb.errors import GeokbError, QueryError, QueryTimeout, StoreError
from kb.model.rdf import NTriples
from kb.model.schema import GK, GRAPH_BASE, ONTOLOGY_GRAPH

MANIFEST_GRAPH = GRAPH_BASE + "manifest"
# <manifest> <manifest#graph> <g>: one triple per graph of the build, beside the manifest JSON
BUILD_GRAPH = MANIFEST_GRAPH + "#graph"
TIMEOUT_S = 60.0
GRAPHS_TTL_S = 2.0  # how long a server reuses the list of the build's graphs

# What stores say when they stop a query at their time limit, in a status line or in an
# answer already under way (Oxigraph writes its message into the body it had started).
_TIMEOUT_WORDS = re.compile(
    rb"operation has been cancelled|timed? ?out|timeout|SR171|S1T00|S1TAT|took too long",
    re.IGNORECASE,
)
# What Oxigraph writes into an answer under way when it stops the query at its time limit.
_CANCELLED = b"The SPARQL operation has been cancelled"
# How Virtuoso writes an xsd:boolean in SPARQL JSON results
_VIRTUOSO_BOOLEAN = re.compile(
    rb'("datatype": "http://www\.w3\.org/2001/XMLSchema#boolean", "value": ")([01])"'
)
_MAX_LINE = 1 << 20  # a longer line of such an answer is passed on as it is
_HTML = re.compile(r"\s*<(!DOCTYPE html|html)", re.IGNORECASE)
_HTML_HEAD = re.compile(r"<head>.*?</head>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
# Sent before the N-Triples of a GSP PUT (see RemoteStore._put).
_TURTLE_HEAD = b"@prefix geokb: <https://w3id.org/geokb/ontology#> .\n"
# Triples per INSERT template on the SPARQL Update path (see _template_chunks).
_TEMPLATE_TRIPLES = 200
# Response headers by which a store says it cut a result (Virtuoso: ResultSetMaxRows, and
# the partial answers of its "anytime" queries).
_MAX_ROWS_HEADERS = ("X-SPARQL-MaxRows", "X-Max-Rows")


class RemoteStoreError(StoreError):
    """The remote store was unreachable or refused a request; says what was pushed."""

    http_status = 502


def derive_urls(query_url: str) -> tuple[str, str | None, str | None]:
    """The query URL, and the update and GSP URLs of the store layouts geokb knows (None
    for a layout it does not know):

    - Oxigraph: the base URL or ``/query`` → ``/update`` and ``/store``;
    - Fuseki: ``/<dataset>/query`` or ``/<dataset>/sparql`` → ``/<dataset>/update`` and
      ``/<dataset>/data``;
    - Virtuoso: ``/sparql`` → ``/sparql`` and ``/sparql-graph-crud`` (``/sparql-auth`` →
      ``/sparql-auth`` and ``/sparql-graph-crud-auth``).
    """
    parts = urlsplit(query_url)
    path = parts.path.rstrip("/")

    def at(p: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, p, "", ""))

    if path == "":
        return at("/query"), at("/update"), at("/store")
    if path == "/query":
        return query_url, at("/update"), at("/store")
    if path in ("/sparql", "/sparql-auth"):
        return query_url, at(path), at(path.replace("sparql", "sparql-graph-crud"))
    segments = path.split("/")
    if len(segments) == 3 and segments[2] in ("query", "sparql"):  # "", dataset, endpoint
        dataset = "/" + segments[1]
        return query_url, at(dataset + "/update"), at(dataset + "/data")
    return query_url, None, None


class _Graphs:
    """The build's graphs as last read from the store, and when; and the store's name for
    itself (its ``Server`` header), once seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read_at = -1e9
        self.graphs: tuple[str, ...] = ()
        self.server: str | None = None


class RemoteAnswer(NamedTuple):
    """A parsed answer, and what the store said if it cut the result (else None)."""

    result: ox.QuerySolutions | ox.QueryBoolean | list[ox.Triple]
    store_cut: str | None
    body: _Body

    def broken(self, exc: Exception) -> GeokbError:
        """The error to report for an answer that could not be parsed: the store's words,
        from the end of what it sent."""
        tail = _decode(self.body.tail[-200:])
        if _TIMEOUT_WORDS.search(self.body.tail):
            return QueryTimeout(f"the remote store stopped the query at its time limit: {tail}")
        return RemoteStoreError(
            f"the remote store's answer could not be read ({_reason(exc)}); it ended with: {tail}"
        )


@dataclass(frozen=True)
class RemoteStore:
    """The endpoints of a remote store and the credentials to use them."""

    query_url: str
    update_url: str | None = None
    gsp_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = TIMEOUT_S  # per request to the store while pushing
    digest: tuple[str, str] | None = field(default=None, repr=False)  # user, password

    @classmethod
    def from_urls(
        cls, query_url: str, update_url: str | None = None, gsp_url: str | None = None
    ) -> RemoteStore:
        """A remote store. For the layouts of ``derive_urls`` the query URL will do; for
        others, pushing needs the update or GSP URL given."""
        query_url, derived_update, derived_gsp = derive_urls(query_url)
        if update_url is None and gsp_url is None:
            update_url, gsp_url = derived_update, derived_gsp
        timeout = float(os.environ.get("GEOKB_STORE_TIMEOUT", TIMEOUT_S))
        headers, digest = _credentials()
        return cls(query_url, update_url, gsp_url, headers, timeout, digest)

    def require_writable(self) -> None:
        """Raise unless there is an endpoint to push through (GSP or SPARQL Update)."""
        if self.gsp_url is None and self.update_url is None:
            raise RemoteStoreError(
                f"cannot tell where to push to {self.query_url}: geokb knows the layouts of "
                "Oxigraph (.../query), Fuseki (.../<dataset>/query or .../<dataset>/sparql) "
                "and Virtuoso (.../sparql); for another store give --update-url (its SPARQL "
                "Update endpoint) and/or --gsp-url (its Graph Store Protocol endpoint)"
            )

    # -- HTTP -------------------------------------------------------------------------------

    @cached_property
    def _opener(self) -> urllib.request.OpenerDirector:
        handlers: list[urllib.request.BaseHandler] = []
        if self.digest is not None:
            passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            uris = [u for u in (self.query_url, self.update_url, self.gsp_url) if u]
            passwords.add_password(None, uris, *self.digest)
            handlers.append(urllib.request.HTTPDigestAuthHandler(passwords))
        return urllib.request.build_opener(*handlers)

    @cached_property
    def _graphs(self) -> _Graphs:
        return _Graphs()

    def _open(
        self,
        url: str,
        data: bytes | None,
        headers: dict[str, str],
        timeout_s: float,
        method: str | None = None,
    ) -> IO[bytes]:
        request = urllib.request.Request(
            url, data=data, method=method, headers={**headers, **self.headers}
        )
        response: IO[bytes] = self._opener.open(request, timeout=timeout_s)
        return response

    def _form(
        self, url: str, params: list[tuple[str, str]], accept: str, timeout_s: float
    ) -> IO[bytes]:
        """POST a SPARQL 1.1 Protocol form (query or update) to ``url``."""
        body = urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept}
        return self._open(url, body, headers, timeout_s, "POST")

    # -- queries ----------------------------------------------------------------------------

    def select_json(self, query: str) -> dict[str, object]:
        """A SELECT/ASK result as parsed SPARQL JSON (for geokb's own queries)."""
        import json

        accept = "application/sparql-results+json"
        try:
            with self.raw_query(query, accept, self.timeout_s) as resp:
                result = json.loads(resp.read())
        except (OSError, ValueError) as exc:
            raise RemoteStoreError(f"query to {self.query_url} failed: {_reason(exc)}") from None
        assert isinstance(result, dict)
        return result

    def raw_query(
        self,
        query: str,
        accept: str,
        timeout_s: float,
        default_graphs: tuple[str, ...] = (),
        named_graphs: tuple[str, ...] = (),
    ) -> IO[bytes]:
        """Run a query; return the open response, to be read lazily (a result is cut after
        as many rows as the cap allows, and the rest never read). The store's errors are
        raised as geokb errors: its refusal as QueryError (400), its time limit as
        QueryTimeout (503), anything else as RemoteStoreError (502), each with its reason."""
        params = [("query", query)]
        params += [("default-graph-uri", g) for g in default_graphs]
        params += [("named-graph-uri", g) for g in named_graphs]
        try:
            response = self._form(self.query_url, params, accept, timeout_s)
            headers = getattr(response, "headers", None)
            self._graphs.server = headers.get("Server", "") if headers is not None else ""
            return response
        except urllib.error.HTTPError as exc:
            text = _body_text(exc)
            if exc.code in (503, 504) or _TIMEOUT_WORDS.search(text.encode()):
                raise QueryTimeout(
                    f"the remote store stopped the query at its time limit: {text or exc.reason}"
                ) from None
            if exc.code == 400:
                raise QueryError(f"SPARQL syntax error (from the store): {text}") from None
            raise RemoteStoreError(
                f"query to {self.query_url} failed: HTTP {exc.code}: {text or exc.reason}"
            ) from None
        except OSError as exc:
            if _is_timeout(exc):
                raise QueryTimeout(
                    f"the remote store did not answer within {timeout_s:g} s"
                ) from None
            raise RemoteStoreError(f"query to {self.query_url} failed: {_reason(exc)}") from None

    def is_virtuoso(self, timeout_s: float = TIMEOUT_S) -> bool:
        """Whether the store says it is Virtuoso (asked once, if no answer told yet)."""
        if self._graphs.server is None:
            with self.raw_query("ASK {}", "application/sparql-results+json", timeout_s) as r:
                r.read()
        return (self._graphs.server or "").startswith("Virtuoso")

    def build_graphs(self) -> tuple[str, ...]:
        """The graphs of the last complete push (data files and ontology), as listed beside
        its manifest; () if the store holds no geokb build. Reused for GRAPHS_TTL_S."""
        cache = self._graphs
        with cache.lock:
            if time.monotonic() - cache.read_at > GRAPHS_TTL_S:
                result = self.select_json(
                    f"SELECT ?g WHERE {{ GRAPH <{MANIFEST_GRAPH}> "
                    f"{{ <{MANIFEST_GRAPH}> <{BUILD_GRAPH}> ?g }} }}"
                )
                rows = result["results"]["bindings"]  # type: ignore[index]
                cache.graphs = tuple(sorted(r["g"]["value"] for r in rows))
                cache.read_at = time.monotonic()
            return cache.graphs

    def manifest(self) -> Manifest | None:
        """The manifest of the last complete push, or None (then push everything)."""
        result = self.select_json(
            f"SELECT ?m WHERE {{ GRAPH <{MANIFEST_GRAPH}> {{ ?s <{GK.manifestJson}> ?m }} }}"
        )
        rows: list[dict[str, dict[str, str]]] = result.get("results", {}).get("bindings", [])  # type: ignore[attr-defined]
        if not rows:
            return None
        return from_json(rows[0]["m"]["value"])

    # -- pushes -----------------------------------------------------------------------------

    def push(self, compiled: Compiled) -> list[str]:
        """Send the changed graphs, drop the stale ones, then send the manifest; return the
        graphs pushed. The old manifest stays until the very end, full push or not."""
        self.require_writable()
        pushed: list[str] = []
        try:
            for iri, data in compiled.graphs.items():
                self._put(str(iri), data)
                pushed.append(str(iri))
            for iri in compiled.removed:
                self._drop(str(iri))
                pushed.append(str(iri))
            if compiled.full:  # graphs of files gone before the last manifest was written
                for name in self._named_graphs():
                    if name != MANIFEST_GRAPH and URIRef(name) not in compiled.graphs:
                        self._drop(name)
            self._put_manifest(compiled)
        except (GeokbError, OSError) as exc:
            done = ", ".join(pushed) or "none"
            raise RemoteStoreError(
                f"pushing to the remote store failed: {_reason(exc)}. Graphs already pushed: "
                f"{done}. The store's manifest was not updated, so the build is not complete; "
                "run the same build again to finish it."
            ) from None
        return pushed

    def _named_graphs(self) -> list[str]:
        """The store's graphs named under GRAPH_BASE (the filter is not only for clarity:
        Virtuoso answers it from an index, and takes seconds to list all of its graphs)."""
        result = self.select_json(
            "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } "
            f'FILTER(STRSTARTS(STR(?g), "{GRAPH_BASE}")) }}'
        )
        return [b["g"]["value"] for b in result["results"]["bindings"]]  # type: ignore[index]

    def _put(self, iri: str, graph: NTriples) -> None:
        if self.gsp_url:
            # Turtle (N-Triples is a subset) led by a prefix line: Virtuoso ignores the
            # Content-Type of a GSP PUT and guesses the syntax from the first 64 KB, and
            # without that line it takes a graph whose first line is longer (the manifest)
            # for text/plain and refuses it.
            body = _TURTLE_HEAD + graph.data
            self._gsp("PUT", iri, body, {"Content-Type": "text/turtle"})
        else:
            self._update(_replace_graph(iri, graph))

    def _drop(self, iri: str) -> None:
        if self.gsp_url:
            self._gsp("DELETE", iri, None, {}, missing_ok=True)
        else:
            self._update(f"DROP SILENT GRAPH <{iri}>")

    def _gsp(
        self,
        method: str,
        iri: str,
        body: bytes | None,
        headers: dict[str, str],
        missing_ok: bool = False,
    ) -> None:
        """One Graph Store Protocol request."""
        assert self.gsp_url is not None
        url = f"{self.gsp_url}?{urlencode({'graph': iri})}"
        self._send(f"{method} graph {iri}", url, body, headers, method, missing_ok)

    def _update(self, update: str) -> None:
        """One SPARQL Update request."""
        assert self.update_url is not None
        body = urlencode([("update", update)]).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"}
        self._send(f"update at {self.update_url}", self.update_url, body, headers, "POST")

    def _send(
        self,
        what: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        method: str,
        missing_ok: bool = False,
    ) -> None:
        """One request of a push; its failure as RemoteStoreError, with the store's reason
        (a 404 is fine with ``missing_ok``: what was to be deleted is already gone)."""
        try:
            with self._open(url, body, headers, self.timeout_s, method) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return
            raise RemoteStoreError(
                f"{what} answered {exc.code}: {_body_text(exc) or exc.reason}"
            ) from None
        except OSError as exc:
            raise RemoteStoreError(f"{what} failed: {_reason(exc)}") from None

    def _put_manifest(self, compiled: Compiled) -> None:
        """The manifest JSON and the list of the build's graphs, in one request."""
        node = ox.NamedNode(MANIFEST_GRAPH)
        graphs = {e.graph for e in compiled.manifest.files.values()} | {str(ONTOLOGY_GRAPH)}
        triples = [
            ox.Triple(
                node, ox.NamedNode(str(GK.manifestJson)), ox.Literal(compiled.manifest.to_json())
            )
        ]
        triples += [
            ox.Triple(node, ox.NamedNode(BUILD_GRAPH), ox.NamedNode(g)) for g in sorted(graphs)
        ]
        self._put(MANIFEST_GRAPH, NTriples.of(triples))


def _replace_graph(iri: str, graph: NTriples) -> str:
    """The SPARQL Update that replaces graph ``iri`` by ``graph``, in a form every store
    accepts: ``DROP SILENT GRAPH``, then ``INSERT DATA`` for the triples without blank
    nodes and ``INSERT { ... } WHERE {}`` for those with (the ontology's OWL lists and
    restrictions). SPARQL 1.1 allows blank nodes in INSERT DATA, but Virtuoso refuses them
    there ("SP031: Blank node ... is not allowed in a constant clause"); in a template every
    store takes them, and the store's blank nodes stay blank nodes, as in the embedded store.
    """
    head = f"DROP SILENT GRAPH <{iri}> ;\n"
    if b"_:" not in graph.data:  # no blank node (nor the two characters in a literal)
        return head + f"INSERT DATA {{ GRAPH <{iri}> {{\n{graph.data.decode()}\n}} }}"
    triples = graph.triples()
    plain = [t for t in triples if not _blank_ids(t)]
    operations = [f"INSERT DATA {{ GRAPH <{iri}> {{\n{_nt(plain)}\n}} }}"]
    for chunk in _template_chunks([t for t in triples if _blank_ids(t)]):
        operations.append(f"INSERT {{ GRAPH <{iri}> {{\n{_nt(chunk)}\n}} }} WHERE {{}}")
    return head + " ;\n".join(operations)


def _blank_ids(triple: ox.Triple) -> list[str]:
    return [n.value for n in (triple.subject, triple.object) if isinstance(n, ox.BlankNode)]


def _template_chunks(triples: list[ox.Triple]) -> list[list[ox.Triple]]:
    """Triples with blank nodes, in chunks of about _TEMPLATE_TRIPLES: the triples that
    share blank nodes (linked through them) always in the same chunk, since a blank node
    label means one node only within one template. Virtuoso compiles a template into SQL
    and refuses one of more than 10,000 lines of it (about 1,500 triples)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    for triple in triples:
        first, *others = _blank_ids(triple)
        for other in others:
            parent[root(other)] = root(first)
    groups: dict[str, list[ox.Triple]] = {}
    for triple in triples:
        groups.setdefault(root(_blank_ids(triple)[0]), []).append(triple)
    chunks: list[list[ox.Triple]] = [[]]
    for group in groups.values():
        if chunks[-1] and len(chunks[-1]) + len(group) > _TEMPLATE_TRIPLES:
            chunks.append([])
        chunks[-1].extend(group)
    return [c for c in chunks if c]


def _nt(triples: list[ox.Triple]) -> str:
    return (ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b"").decode()


class _Body(io.RawIOBase):
    """A response body read as it is parsed. A store that stops a query at its time limit
    after its answer began writes its message into the body (Oxigraph does): that is raised
    as QueryTimeout, as is a read that times out.

    With ``booleans`` (a Virtuoso answer in SPARQL JSON), xsd:boolean values written as
    ``1`` / ``0`` are given in their canonical form ``true`` / ``false``, as every other
    store writes them: the same value, and the same term as the embedded store's. Virtuoso
    writes a solution per line, so the body is handed on a line at a time."""

    def __init__(self, response: IO[bytes], timeout_s: float, booleans: bool = False) -> None:
        self.response = response
        self.timeout_s = timeout_s
        self.booleans = booleans
        self.tail = b""  # the last bytes read, to find a message cut across two reads
        self.held = b""  # read, but not yet a whole line (with ``booleans``)
        self.ready = b""  # read and not yet handed on

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.ready:
            chunk = self._read(len(buffer))
            if not self.booleans:
                self.ready = chunk
            elif chunk:
                data = self.held + chunk
                cut = data.rfind(b"\n") + 1
                if cut == 0 and len(data) > _MAX_LINE:  # a line too long to hold: as it is
                    cut = len(data)
                self.ready, self.held = _VIRTUOSO_BOOLEAN.sub(_canonical, data[:cut]), data[cut:]
            else:
                self.ready, self.held = _VIRTUOSO_BOOLEAN.sub(_canonical, self.held), b""
            if not chunk:
                break
        size = min(len(buffer), len(self.ready))
        buffer[:size] = self.ready[:size]
        self.ready = self.ready[size:]
        return size

    def _read(self, size: int) -> bytes:
        try:
            chunk = self.response.read(size)
        except OSError as exc:
            if _is_timeout(exc):
                raise QueryTimeout(
                    f"the remote store did not finish its answer within {self.timeout_s:g} s"
                ) from None
            raise RemoteStoreError(f"the remote store's answer broke off: {_reason(exc)}") from None
        window = self.tail + chunk
        if _CANCELLED in window:
            raise QueryTimeout(
                "the remote store stopped the query at its time limit: "
                + _decode(window[window.index(_CANCELLED) :])
            )
        self.tail = window[-200:]
        return chunk

    def close(self) -> None:
        self.response.close()
        super().close()


def _canonical(match: re.Match[bytes]) -> bytes:
    return match[1] + (b"true" if match[2] == b"1" else b"false") + b'"'


def _decode(data: bytes) -> str:
    """A store's message on one line; an HTML page (Virtuoso's GSP errors) as its text."""
    text = data.decode("utf-8", "replace")
    if _HTML.match(text):
        text = _TAG.sub(" ", _HTML_HEAD.sub(" ", text))
        text = html.unescape(text)
    return " ".join(text.split())[:300]


def _body_text(exc: urllib.error.HTTPError) -> str:
    """The store's own reason for an error status, decoded, on one line."""
    try:
        return _decode(exc.read(2000))
    except OSError:
        return ""


def _is_timeout(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", None)
    return isinstance(exc, TimeoutError | socket.timeout) or isinstance(
        reason, TimeoutError | socket.timeout
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        text = str(exc.reason) or type(exc).__name__
    else:
        text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _credentials() -> tuple[dict[str, str], tuple[str, str] | None]:
    """The headers (bearer or basic) or the digest credentials of GEOKB_STORE_*."""
    token = os.environ.get("GEOKB_STORE_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}, None
    auth = os.environ.get("GEOKB_STORE_AUTH", "basic").strip().lower()
    if auth not in ("basic", "digest"):
        raise StoreError(f"GEOKB_STORE_AUTH is '{auth}'; use basic (the default) or digest")
    user, password = os.environ.get("GEOKB_STORE_USER"), os.environ.get("GEOKB_STORE_PASSWORD")
    if user is None or password is None:
        if auth == "digest":
            raise StoreError(
                "GEOKB_STORE_AUTH=digest needs GEOKB_STORE_USER and GEOKB_STORE_PASSWORD"
            )
        return {}, None
    if auth == "digest":
        return {}, (user, password)
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}, None


def remote_answer(
    remote: RemoteStore,
    query: str,
    timeout_s: float = TIMEOUT_S,
    default_graphs: tuple[str, ...] = (),
    named_graphs: tuple[str, ...] = (),
    limit: int | None = None,
) -> RemoteAnswer:
    """Run a guarded read-only query on the remote store and parse its answer.

    The dataset is the client's (``default_graphs``, ``named_graphs``) or the query's FROM;
    failing both, the build's own graphs: what the embedded store would query. Solutions
    are parsed as they are read. A graph result is read up to ``limit`` + 1 triples (enough
    to tell a capped result), the rest left unread.
    """
    from kb.sparql import reading

    read = reading.read(query)
    if not read.has_dataset and not (default_graphs and named_graphs):
        graphs = remote.build_graphs()
        if graphs:  # as the embedded store: the union of the build's graphs, and its graphs
            default_graphs = default_graphs or graphs
            named_graphs = named_graphs or graphs
    accept = (
        "application/sparql-results+json" if read.shape == "solutions" else "application/n-triples"
    )
    if read.form == "DESCRIBE" and remote.is_virtuoso(timeout_s):
        # Virtuoso's DESCRIBE adds the triples pointing to the resource; in its CBD mode it
        # gives what the embedded store gives: the resource's triples, and its blank nodes'.
        query = 'DEFINE sql:describe-mode "CBD"\n' + query
    response = remote.raw_query(query, accept, timeout_s, default_graphs, named_graphs)
    store_cut = _store_cut(response)
    raw = _Body(response, timeout_s, booleans=read.shape == "solutions" and remote.is_virtuoso())
    body = io.BufferedReader(raw)
    if read.shape == "solutions":
        solutions = ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
        if read.form == "ASK" and isinstance(solutions, ox.QuerySolutions):
            solutions = _ask_table(solutions)
        return RemoteAnswer(solutions, store_cut, raw)
    quads = ox.parse(body, format=ox.RdfFormat.N_TRIPLES)
    try:
        triples = [
            ox.Triple(q.subject, q.predicate, q.object)
            for q in islice(quads, None if limit is None else limit + 1)
        ]
    except SyntaxError as exc:
        raise RemoteAnswer([], None, raw).broken(exc) from None
    return RemoteAnswer(triples, store_cut, raw)


def _ask_table(table: ox.QuerySolutions) -> ox.QueryBoolean:
    """The answer of an ASK sent as a table: Virtuoso 7.2 answers one with a variable
    ``__ASK_RETVAL`` holding 1 when true, and no row when false."""
    true = any(
        isinstance(v, ox.Literal) and v.value not in ("0", "false") for s in table for v in s
    )
    answer = ox.parse_query_results(
        b'{"head": {}, "boolean": %s}' % (b"true" if true else b"false"),
        format=ox.QueryResultsFormat.JSON,
    )
    assert isinstance(answer, ox.QueryBoolean)
    return answer


def _store_cut(response: IO[bytes]) -> str | None:
    """What the store's response headers say about a result it cut, or None."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name in _MAX_ROWS_HEADERS:
        value = headers.get(name)
        if value:
            return f"true; the remote store cut the result at its limit of {value.strip()} rows"
    state = headers.get("X-SQL-State", "")
    if state.strip().upper() == "S1TAT":  # Virtuoso's partial answer of an anytime query
        return "true; the remote store stopped at its time limit and sent a partial result"
    return None


def remote_run(
    remote: RemoteStore,
    query: str,
    timeout_s: float = TIMEOUT_S,
    default_graphs: tuple[str, ...] = (),
    named_graphs: tuple[str, ...] = (),
    limit: int | None = None,
) -> ox.QuerySolutions | ox.QueryBoolean | list[ox.Triple]:
    """``remote_answer``'s result alone."""
    return remote_answer(remote, query, timeout_s, default_graphs, named_graphs, limit).result
