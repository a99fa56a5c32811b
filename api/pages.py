"""Pages for people: the query page."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from kb.derive.ontology_docs import ontology_html
from kb.sparql.examples import examples

router = APIRouter()
TEMPLATES = Path(__file__).parent / "templates"


@cache
def _query_page() -> str:
    data = [{"name": e.name, "title": e.title, "query": e.query.strip()} for e in examples()]
    # JSON inside <script>: escape '<' so no value can close the element
    blob = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return (TEMPLATES / "query.html").read_text(encoding="utf-8").replace("__EXAMPLES__", blob)


@router.get("/ontology", response_class=HTMLResponse, summary="The ontology, documented")
def ontology_page() -> HTMLResponse:
    """The ontology's HTML documentation (generated from kb/schema.py)."""
    return HTMLResponse(_ontology_page())


@cache
def _ontology_page() -> str:
    return ontology_html()


@router.get("/", response_class=HTMLResponse, summary="The SPARQL query page")
def query_page() -> HTMLResponse:
    """A SPARQL editor with the example queries."""
    return HTMLResponse(_query_page())
