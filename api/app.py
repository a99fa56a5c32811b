"""The FastAPI application: wires the routes to the store of the last good build."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from api import pages, sparql
from api.state import ServedStore


def create_app(store_root: Path) -> FastAPI:
    """The geokb web app serving the last good build under ``store_root``."""
    app = FastAPI(
        title="geokb",
        description="A geopolitical event knowledge base: SPARQL 1.1 endpoint and pages.",
        version="0.1.0",
    )
    app.state.store = ServedStore(store_root)
    app.include_router(sparql.router)
    app.include_router(pages.router)
    return app
