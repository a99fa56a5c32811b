"""Pages for people: the query page; and the templates every HTML page is rendered from.

One Jinja2 Environment renders api/templates/ with autoescaping on: a value put into a page
is escaped unless it is already markup (``Markup``, a macro's output, ``|tojson``). No page
builds HTML from strings of its own.
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from kb.derive.ontology_docs import ontology_html
from kb.sparql.examples import examples

router = APIRouter()
TEMPLATES = Path(__file__).parent / "templates"
FAVICON = Path(__file__).parent / "static" / "favicon.svg"


def _finalize(value: Any) -> Any:
    """Escape text the way the pages always have (``&#x27;``, ``&quot;``; html.escape).

    Runs before the autoescape on every ``{{ }}`` output: text comes out as Markup, which
    autoescape then leaves alone; markup (and anything else) goes on to autoescape as usual.
    Only the spelling of the entities differs from MarkupSafe's (``&#39;``, ``&#34;``).
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return Markup(escape(value))
    return value


ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html", "svg", "xml"), default=True, default_for_string=True),
    undefined=StrictUndefined,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
# |tojson (the query page's examples, inside <script>): '<', '>', '&', "'" as \u escapes.
ENVIRONMENT.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}


def render(name: str, **context: Any) -> str:
    """The template ``name`` of api/templates/ rendered with ``context``, autoescaped."""
    return ENVIRONMENT.get_template(name).render(**context)


@cache
def _query_page() -> str:
    data = [{"name": e.name, "title": e.title, "query": e.query.strip()} for e in examples()]
    return render("query.html", examples=data)


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


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """The site's icon, for pages that name none (the API docs, the ontology) and for tools
    that ask for /favicon.ico whatever a page says; an SVG, which browsers take at any URL."""
    return FileResponse(FAVICON, media_type="image/svg+xml")
