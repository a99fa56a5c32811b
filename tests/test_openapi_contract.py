"""schemathesis against the app's own OpenAPI description, over real HTTP: no 5xx, and
responses that match the description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from conftest import LiveServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.settings import Settings


def _check_operation(operation: Any, base_url: str) -> None:
    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        response = case.call(base_url=base_url, timeout=10)
        assert response.status_code < 500 or response.status_code == 503, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
        )
        # A query string that is not SPARQL is schema-valid (JSON Schema cannot express the
        # SPARQL grammar) and rightly answered 400, so "valid data accepted" does not apply.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])

    check()


def test_api_matches_its_openapi_description(real_store: Path) -> None:
    with LiveServer(Settings(store=real_store, timeout_s=3.0, max_rows=200)) as live:
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/sparql", "/id/{path}", "/transfers.csv"}
        for operation in operations:
            _check_operation(operation, live.url)
