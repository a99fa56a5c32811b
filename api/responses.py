"""Responses every route builds the same way: plain-text errors, and RDF by negotiation."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pyoxigraph as ox
from fastapi import Response

from api.negotiation import NotAcceptable, choose
from kb.errors import GeokbError, StoreDamaged


def plain(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A plain-text response a person can read (errors, mostly)."""
    return Response(
        message.rstrip() + "\n",
        status_code=status,
        headers=headers,
        media_type="text/plain; charset=utf-8",
    )


def error(exc: GeokbError) -> Response:
    """The response for a geokb error: its HTTP status, its message, and Retry-After if any."""
    if isinstance(exc, StoreDamaged):  # the operator's log gets the detail (with paths)
        logging.getLogger("geokb").error("%s", exc.detail)
    retry = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return plain(exc.http_status, str(exc), retry)


def rdf(
    triples: Iterable[ox.Triple],
    accept: str | None,
    format_param: str | None,
    prefixes: dict[str, str] | None = None,
) -> Response:
    """``triples`` in the RDF format the client asked for (Turtle by default), or 406."""
    try:
        fmt = choose("graph", accept, format_param)
    except NotAcceptable as exc:
        return plain(406, str(exc))
    assert isinstance(fmt.ox_format, ox.RdfFormat)
    data = ox.serialize(
        triples, format=fmt.ox_format, prefixes=prefixes if fmt.name == "turtle" else None
    )
    return Response(data, media_type=fmt.content_type, headers={"Vary": "Accept"})
