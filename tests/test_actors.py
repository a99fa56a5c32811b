"""Non-state actors and international organisations act as states do: an armed group receives
weapons, a de facto state administers a territory, NATO acts in an event. Each goes from YAML
through validate and the build to SPARQL and its entity page; '?x a gk:Actor' finds states and
non-state actors alike, and state IRIs stay as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MINI, LiveServer, write_data

from kb.build.pipeline import compile_data
from kb.cli import main
from kb.errors import DataError
from kb.stores.local import write_build

ID = "https://w3id.org/geokb/id/"
JSON = "application/sparql-results+json"
PREFIX = "PREFIX gk: <https://w3id.org/geokb/ontology#>\n"

ACTORS = """\
    non_state_actors:
      - id: ansar-allah
        label: Ansar Allah
        actor_type: armed-group
        sources: [test-source]
      - id: artsakh
        label: Republic of Artsakh
        actor_type: [de-facto-state]
    international_organizations:
      - id: nato
        label: NATO
    territories:
      - {id: nagorno-karabakh, label: Nagorno-Karabakh, type: region}
    arms_transfers:
      - id: irn-to-houthis
        supplier: IRN
        recipient: actor/ansar-allah
        weapon_systems: [drone-x]
        sources: [test-source]
    administrations:
      - id: nk-under-artsakh
        territory: nagorno-karabakh
        administered_by: actor/artsakh
        end_date: 2023-09
        sources: [test-source]
    diplomatic_events:
      - id: nato-statement
        event_type: public statement
        actors: [igo/nato]
        targets: [RUS, ansar-allah]
        date: 2024-01
        sources: [test-source]
    """


def _project(folder: Path, actors: str = ACTORS) -> Path:
    return write_data(folder / "data", {**MINI, "actors.yaml": actors})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("actors")
    store = root / "store"
    write_build(store, compile_data(_project(root)))
    with LiveServer(store) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def _rows(client: httpx.Client, query: str) -> list[dict[str, str]]:
    resp = client.get("/sparql", params={"query": PREFIX + query}, headers={"Accept": JSON})
    assert resp.status_code == 200, resp.text
    return [{k: v["value"] for k, v in b.items()} for b in resp.json()["results"]["bindings"]]


def test_validate_accepts_actors_in_every_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 0, capsys.readouterr()


def test_an_armed_group_receives_a_transfer(site: httpx.Client) -> None:
    rows = _rows(
        site,
        "SELECT ?supplier ?recipient ?type WHERE { ?t gk:recipient ?recipient ; "
        "gk:supplier ?supplier . ?recipient a gk:NonStateActor ; gk:actorType ?type }",
    )
    assert rows == [
        {
            "supplier": ID + "state/IRN",  # the state's IRI is unchanged
            "recipient": ID + "actor/ansar-allah",
            "type": "https://w3id.org/geokb/ontology#ArmedGroup",
        }
    ]
    assert site.get("/id/actor/ansar-allah", headers={"Accept": "text/html"}).status_code == 200


def test_a_de_facto_state_administers_a_territory(site: httpx.Client) -> None:
    rows = _rows(
        site,
        "SELECT ?who ?end WHERE { ?a a gk:Administration ; gk:administeredBy ?who ; "
        "gk:territory <https://w3id.org/geokb/id/territory/nagorno-karabakh> ; gk:endDate ?end }",
    )
    assert rows == [{"who": ID + "actor/artsakh", "end": "2023-09"}]
    page = site.get("/id/actor/artsakh", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Republic of Artsakh" in page.text


def test_nato_acts_in_an_event(site: httpx.Client) -> None:
    rows = _rows(
        site,
        "SELECT ?actor ?target WHERE { ?e gk:actor ?actor ; gk:target ?target . "
        "?actor a gk:InternationalOrganization } ORDER BY ?target",
    )
    assert rows == [
        {"actor": ID + "igo/nato", "target": ID + "actor/ansar-allah"},
        {"actor": ID + "igo/nato", "target": ID + "state/RUS"},
    ]
    assert site.get("/id/igo/nato", headers={"Accept": "text/html"}).status_code == 200


def test_actor_finds_states_and_non_state_actors_alike(site: httpx.Client) -> None:
    rows = _rows(site, "SELECT ?x WHERE { ?x a gk:Actor } ORDER BY ?x")
    assert [r["x"] for r in rows] == [
        ID + "actor/ansar-allah",
        ID + "actor/artsakh",
        ID + "igo/nato",
        ID + "state/IRN",
        ID + "state/RUS",
    ]
    # facts, weapons and territories are not actors
    assert _rows(site, "SELECT ?x WHERE { ?x a gk:Actor , gk:Fact }") == []
    assert site.get("/id/state/IRN", headers={"Accept": "text/html"}).status_code == 200


def _errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, actors: str) -> list[str]:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as info:
        compile_data(write_data(Path("data"), {**MINI, "actors.yaml": actors}))
    return [str(p) for p in info.value.problems]


def test_a_weapon_as_recipient_is_a_located_error_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actors = ACTORS.replace("recipient: actor/ansar-allah", "recipient: weapon/drone-x")
    [error] = _errors(tmp_path, monkeypatch, actors)
    assert error.startswith(
        "data/actors.yaml:17:16: arms_transfers[0].recipient: "
        "'weapon' is not a kind this field can refer to\n"
    )
    assert "state/<id>, actor/<id>, igo/<id>" in error


def test_a_bare_weapon_id_as_recipient_is_unknown_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actors = ACTORS.replace("recipient: actor/ansar-allah", "recipient: drone-x")
    [error] = _errors(tmp_path, monkeypatch, actors)
    assert error.startswith("data/actors.yaml:17:16: arms_transfers[0].recipient: unknown ")
    assert "'drone-x'" in error and "non_state_actors:" in error


def test_an_actor_type_outside_the_list_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actors = ACTORS.replace("actor_type: armed-group", "actor_type: terrorists")
    error = _errors(tmp_path, monkeypatch, actors)[0]  # then the references to the actor
    assert error.startswith("data/actors.yaml:4:17: non_state_actors[0].actor_type: ")
    assert "'terrorists'" in error and "armed-group" in error


def test_the_real_data_has_irans_transfers_to_armed_groups(http: httpx.Client) -> None:
    rows = _rows(
        http,
        "SELECT DISTINCT ?recipient WHERE { ?t gk:supplier "
        "<https://w3id.org/geokb/id/state/IRN> ; gk:recipient ?recipient . "
        "?recipient a gk:NonStateActor } ORDER BY ?recipient",
    )
    assert [r["recipient"] for r in rows] == [ID + "actor/ansar-allah", ID + "actor/hezbollah"]
    rows = _rows(
        http,
        "SELECT ?who WHERE { ?a gk:administeredBy ?who ; "
        "gk:territory <https://w3id.org/geokb/id/territory/nagorno-karabakh> }",
    )
    assert rows == [{"who": ID + "actor/artsakh"}]
