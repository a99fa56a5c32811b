"""A remote SPARQL 1.1 store (Oxigraph server, Fuseki, Virtuoso, GraphDB ...) as the store.

``push`` sends the graphs a build changed: Graph Store Protocol PUT/DELETE where the server
has a GSP endpoint, else one SPARQL Update request per graph (``DROP SILENT GRAPH`` +
``INSERT DATA``). The build manifest is pushed last, into its own graph, so a push that
fails half-way leaves the old manifest: the next build sees the files as changed and pushes
them again. ``query`` runs a read-only query through SPARQLWrapper.

Credentials come from the environment (``GEOKB_STORE_TOKEN`` for a bearer token, or
``GEOKB_STORE_USER`` and ``GEOKB_STORE_PASSWORD`` for HTTP basic) and are never printed.
"""

from __future__ import annotations

import base64
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from itertools import islice
from typing import IO
from urllib.error import URLError
from urllib.parse import urlencode, urlsplit

import pyoxigraph as ox
from rdflib import URIRef
from SPARQLWrapper import POST, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

from kb.build.manifest import Compiled, Manifest, from_json
from kb.errors import QueryError, StoreError
from kb.model.rdf import NTriples
from kb.model.schema import GK, GRAPH_BASE

MANIFEST_GRAPH = GRAPH_BASE + "manifest"
TIMEOUT_S = 60.0


class RemoteStoreError(StoreError):
    """The remote store was unreachable or refused a request; says what was pushed."""

    http_status = 502


@dataclass(frozen=True)
class RemoteStore:
    """The endpoints of a remote store and the credentials to use them."""

    query_url: str
    update_url: str | None = None
    gsp_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout_s: float = TIMEOUT_S  # per request to the store while pushing

    @classmethod
    def from_urls(
        cls, query_url: str, update_url: str | None = None, gsp_url: str | None = None
    ) -> RemoteStore:
        """A remote store. For an Oxigraph server, its base URL or its '/query' URL will do:
        '/query', '/update' and '/store' are assumed unless given."""
        if urlsplit(query_url).path in ("", "/"):
            query_url = query_url.rstrip("/") + "/query"
        if query_url.rstrip("/").endswith("/query"):
            base = query_url.rstrip("/")[: -len("/query")]
            update_url = update_url or base + "/update"
            gsp_url = gsp_url or base + "/store"
        timeout = float(os.environ.get("GEOKB_STORE_TIMEOUT", TIMEOUT_S))
        return cls(query_url, update_url, gsp_url, _auth_headers(), timeout)

    def _sparql(self, url: str) -> SPARQLWrapper:
        sw = SPARQLWrapper(url)
        sw.setTimeout(max(1, round(self.timeout_s)))
        for name, value in self.headers.items():
            sw.addCustomHttpHeader(name, value)
        return sw

    def select_json(self, query: str) -> dict[str, object]:
        """A SELECT/ASK result as parsed SPARQL JSON."""
        sw = self._sparql(self.query_url)
        sw.setQuery(query)
        sw.setReturnFormat("json")
        sw.setOnlyConneg(True)
        try:
            result = sw.queryAndConvert()
        except Exception as exc:  # SPARQLWrapper raises urllib and its own errors
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
        """Run a query through SPARQLWrapper; return the open response, to be read lazily
        (a result is cut after as many rows as the cap allows, and the rest never read)."""
        sw = self._sparql(self.query_url)
        sw.setTimeout(max(1, round(timeout_s)))
        sw.setMethod(POST)
        sw.setOnlyConneg(True)  # no format=/output= parameters: plain SPARQL 1.1 Protocol
        sw.addCustomHttpHeader("Accept", accept)
        sw.setQuery(query)
        for graph in default_graphs:
            sw.addDefaultGraph(graph)
        for graph in named_graphs:
            sw.addNamedGraph(graph)
        try:
            response: IO[bytes] = sw.query().response
            return response
        except QueryBadFormed as exc:  # the store found the query malformed: the client's error
            detail = str(exc).split("Response:", 1)[-1].strip()
            raise QueryError(f"SPARQL syntax error (from the store): {detail[:500]}") from None
        except TimeoutError:
            raise TimeoutError(f"the remote store did not answer within {timeout_s:g} s") from None
        except URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise TimeoutError(
                    f"the remote store did not answer within {timeout_s:g} s"
                ) from None
            raise RemoteStoreError(f"query to {self.query_url} failed: {_reason(exc)}") from None
        except Exception as exc:  # SPARQLWrapper's other errors (500, 404 ...)
            raise RemoteStoreError(f"query to {self.query_url} failed: {_reason(exc)}") from None

    def manifest(self) -> Manifest | None:
        """The manifest of the last complete push, or None (then push everything)."""
        result = self.select_json(
            f"SELECT ?m WHERE {{ GRAPH <{MANIFEST_GRAPH}> {{ ?s <{GK.manifestJson}> ?m }} }}"
        )
        rows: list[dict[str, dict[str, str]]] = result.get("results", {}).get("bindings", [])  # type: ignore[attr-defined]
        if not rows:
            return None
        return from_json(rows[0]["m"]["value"])

    def push(self, compiled: Compiled) -> list[str]:
        """Send the changed graphs, then the manifest; return the graphs pushed."""
        pushed: list[str] = []
        try:
            if compiled.full:
                for name in self._named_graphs():
                    if name.startswith(GRAPH_BASE) and URIRef(name) not in compiled.graphs:
                        self._drop(name)
            for iri in compiled.removed:
                self._drop(str(iri))
                pushed.append(str(iri))
            for iri, data in compiled.graphs.items():
                self._put(str(iri), data)
                pushed.append(str(iri))
            self._put_manifest(compiled.manifest)
        except (RemoteStoreError, OSError, TimeoutError) as exc:
            done = ", ".join(pushed) or "none"
            raise RemoteStoreError(
                f"pushing to the remote store failed: {_reason(exc)}. Graphs already pushed: "
                f"{done}. The store's manifest was not updated, so the build is not complete; "
                "run the same build again to finish it."
            ) from None
        return pushed

    def _named_graphs(self) -> list[str]:
        result = self.select_json("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
        return [b["g"]["value"] for b in result["results"]["bindings"]]  # type: ignore[index]

    def _put(self, iri: str, graph: NTriples) -> None:
        body = graph.data
        if self.gsp_url:
            self._gsp("PUT", iri, body, {"Content-Type": "application/n-triples"})
        else:
            self._update(
                f"DROP SILENT GRAPH <{iri}> ;\nINSERT DATA {{ GRAPH <{iri}> {{\n"
                f"{body.decode()}\n}} }}"
            )

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
        """One Graph Store Protocol request, through urllib: the HTTP stack SPARQLWrapper
        uses for queries and updates, so one client (and one way to authenticate) serves
        every request to the store."""
        assert self.gsp_url is not None
        url = f"{self.gsp_url}?{urlencode({'graph': iri})}"
        request = urllib.request.Request(
            url, data=body, method=method, headers={**headers, **self.headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:  # already gone is fine
                return
            text = exc.read()[:200].decode("utf-8", "replace").strip()
            raise RemoteStoreError(f"{method} graph {iri} answered {exc.code}: {text}") from None

    def _update(self, update: str) -> None:
        if not self.update_url:
            raise RemoteStoreError("the remote store has neither a GSP nor an update endpoint")
        sw = self._sparql(self.update_url)
        sw.setMethod(POST)
        sw.setQuery(update)
        try:
            sw.query()
        except Exception as exc:  # SPARQLWrapper raises urllib and its own errors
            raise RemoteStoreError(f"update at {self.update_url} failed: {_reason(exc)}") from None

    def _put_manifest(self, manifest: Manifest) -> None:
        manifest_triple = ox.Triple(
            ox.NamedNode(MANIFEST_GRAPH),
            ox.NamedNode(str(GK.manifestJson)),
            ox.Literal(manifest.to_json()),
        )
        self._put(MANIFEST_GRAPH, NTriples.of([manifest_triple]))


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _auth_headers() -> dict[str, str]:
    token = os.environ.get("GEOKB_STORE_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = os.environ.get("GEOKB_STORE_USER"), os.environ.get("GEOKB_STORE_PASSWORD")
    if user is not None and password is not None:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def remote_run(
    remote: RemoteStore,
    query: str,
    timeout_s: float = TIMEOUT_S,
    default_graphs: tuple[str, ...] = (),
    named_graphs: tuple[str, ...] = (),
    limit: int | None = None,
) -> ox.QuerySolutions | ox.QueryBoolean | list[ox.Triple]:
    """Run a guarded read-only query on the remote store and parse its answer.

    Solutions are parsed as they are read. A graph result is read up to ``limit`` + 1
    triples (enough to tell a capped result), the rest left unread.
    """
    from kb.sparql.query import guard

    shape = guard(query)
    accept = "application/sparql-results+json" if shape == "solutions" else "application/n-triples"
    body = remote.raw_query(query, accept, timeout_s, default_graphs, named_graphs)
    if shape == "solutions":
        return ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
    quads = ox.parse(body, format=ox.RdfFormat.N_TRIPLES)
    return [
        ox.Triple(q.subject, q.predicate, q.object)
        for q in islice(quads, None if limit is None else limit + 1)
    ]
