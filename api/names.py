"""What to call geokb's entities: ``POST /names`` answers, for a list of IRIs, the names the
pages give them — a label, a source's title, or for a record without either (a transfer, a
claim, an administration ...) the title composed from its fields (``views.Titles``).

The query page's result views ask it for every geokb IRI in an answer, so a row shows 'Iran
administers Abu Musa since 1992' where a label query alone would leave the IRI. Bounded like
the pages: at most ``MAX_IRIS`` per request, read under a page deadline in a render slot.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response

from api import pagework, views
from api.pagework import Deadline, Facts, PagesBusy, PageTimeout
from api.responses import plain
from api.state import ServedStore
from kb.model import schema

router = APIRouter()
MAX_IRIS = 1000
MAX_BODY = 1 << 20  # bytes of form body: 1,000 IRIs of ~1 KB at most


@router.post(
    "/names",
    summary="Names for geokb IRIs (labels or composed titles)",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}}, "description": "IRI -> name"},
        400: {"description": "no IRIs, too many, or a body that is not a form"},
    },
)
async def names(request: Request) -> Response:
    """The name of each ``iri`` form field that is a geokb entity IRI, as a JSON object.

    IRIs outside ``https://w3id.org/geokb/id/`` and IRIs of unknown entities are left out.
    """
    served: ServedStore | None = request.app.state.store
    if served is None:
        return plain(501, "names are not available with a remote store; query /sparql")
    too_long = plain(413, f"at most {MAX_BODY:,} bytes of IRIs per request")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return too_long  # before any of it is read (and before a 100 Continue invites it)
    body = bytearray()
    async for chunk in request.stream():  # held only up to the limit, whatever is declared
        body += chunk
        if len(body) > MAX_BODY:
            return too_long
    if body.count(b"&") >= 2 * MAX_IRIS:  # parsed in the server's one thread
        return plain(400, f"at most {MAX_IRIS:,} IRIs per request")
    try:
        asked = parse_qs(body.decode("utf-8"), strict_parsing=False).get("iri", [])
    except UnicodeDecodeError:
        return plain(400, "the body must be a UTF-8 form: iri=...&iri=...")
    iris = []
    for iri in dict.fromkeys(i for i in asked if i.startswith(schema.ID_BASE)):
        try:
            ox.NamedNode(iri)
        except ValueError:
            continue  # not an IRI at all
        iris.append(iri)
    if not asked:
        return plain(
            400, "give one or more iri=<IRI> form fields (application/x-www-form-urlencoded)"
        )
    if len(iris) > MAX_IRIS:
        return plain(400, f"at most {MAX_IRIS:,} IRIs per request; {len(iris):,} were given")
    store = served.get()

    def work(deadline: Deadline) -> dict[str, str]:
        facts = Facts.of(store)
        titles = views.Titles(facts)
        found: dict[str, str] = {}
        for n, iri in enumerate(iris):
            if n % 50 == 0:
                deadline.check()
            if schema.kind_of_iri(iri.partition("#")[0]) is None:
                continue
            if next(facts.quads(ox.NamedNode(iri)), None) is None:
                continue  # not in this build
            title = titles.title(iri)
            if title and title != iri:
                found[iri] = title
        return found

    try:
        found = await pagework.for_request(request).run(work)
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    return Response(json.dumps(found, ensure_ascii=False), media_type="application/json")
