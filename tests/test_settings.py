"""The one table of serving settings: every setting has a row, a flag, an environment
variable and a documented default, and the limits set there are the ones honoured."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, LiveServer

from api.settings import TABLE, SettingError, Settings, from_environment
from kb.cli import build_parser


def test_every_setting_has_one_row() -> None:
    tunable = {f.name for f in fields(Settings)} - {"store", "remote", "shared_heavy_slots"}
    names = [s.name for s in TABLE]
    assert sorted(names) == sorted(tunable) and len(set(names)) == len(names)


def test_every_row_is_a_serve_flag_and_is_documented() -> None:
    serve = build_parser(environ={})._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    flags = {opt for action in serve._actions for opt in action.option_strings}
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for setting in TABLE:
        assert setting.flag in flags
        assert setting.flag in docs and setting.env in docs, setting.name


def test_the_environment_sets_a_default_and_bad_values_are_named() -> None:
    assert from_environment({"GEOKB_TIMEOUT": "7.5", "GEOKB_WORKERS": "2"}) == {
        "timeout_s": 7.5,
        "workers": 2,
    }
    with pytest.raises(SettingError, match="GEOKB_MAX_ROWS: 'lots' is not a whole number"):
        from_environment({"GEOKB_MAX_ROWS": "lots"})


def test_a_raised_query_length_limit_is_honoured_by_the_workers(real_store: Path) -> None:
    # the workers once re-checked queries against the module default (100,000 characters)
    long_query = "ASK { ?s ?p ?o } #" + "x" * 150_000
    settings = Settings(store=real_store, max_query_chars=200_000, workers=1)
    with LiveServer(settings) as live:
        resp = httpx.post(f"{live.url}/sparql", data={"query": long_query}, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.json()["boolean"] is True
