"""Incremental builds: only changed files are re-read and rewritten, with the same result."""

import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
from conftest import MINI, write_data

from kb.build import manifest
from kb.build.pipeline import compile_data
from kb.errors import DataError
from kb.stores.local import current_build, open_current, write_build

MORE = """\
    arms_transfers:
      - id: t2
        supplier: RUS
        recipient: IRN
        weapon_systems: [drone-x]
        quantity_delivered: 3
        sources: [test-source]
    """


def _build(data: Path, store: Path, full: bool = False):  # type: ignore[no-untyped-def]
    previous = None if full else manifest.load(current_build(store))
    compiled = compile_data(data, previous)
    return compiled, write_build(store, compiled)


def _quads(store_root: Path) -> set[str]:
    store, _ = open_current(store_root)
    return {str(q) for q in store.quads_for_pattern(None, None, None, None)}


@pytest.fixture()
def project(tmp_path: Path) -> tuple[Path, Path]:
    data = write_data(tmp_path / "data", MINI)
    store = tmp_path / "store"
    _build(data, store)
    return data, store


def test_editing_one_file_rewrites_only_its_graph(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    data, store = project
    (data / "transfers.yaml").write_text(
        (data / "transfers.yaml").read_text().replace("2022-10", "2022-11")
    )
    compiled, report = _build(data, store)
    assert not report.full
    assert list(report.written) == ["https://w3id.org/geokb/graph/data/transfers.yaml"]
    assert report.kept == 3  # sources, states, ontology
    assert compiled.records == 2  # only the records of the edited file were read
    # the same store as a full build of the same data
    full_store = tmp_path / "full"
    _build(data, full_store, full=True)
    assert _quads(store) == _quads(full_store)


def test_added_and_removed_files(project: tuple[Path, Path], tmp_path: Path) -> None:
    data, store = project
    write_data(data, {"more.yaml": MORE})
    _, report = _build(data, store)
    assert list(report.written) == ["https://w3id.org/geokb/graph/data/more.yaml"]
    (data / "more.yaml").unlink()
    _, report = _build(data, store)
    assert report.removed == ("https://w3id.org/geokb/graph/data/more.yaml",)
    full_store = tmp_path / "full"
    _build(data, full_store, full=True)
    assert _quads(store) == _quads(full_store)


def test_removing_an_id_others_use_is_reported_where_it_is_used(
    project: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, store = project
    monkeypatch.chdir(data.parent)
    before = current_build(store)
    (data / "sources.yaml").write_text("sources:\n  - id: other\n    title: T\n    publisher: P\n")
    with pytest.raises(DataError) as info:
        _build(Path("data"), store)
    errors = [str(p) for p in info.value.problems]
    # transfers.yaml did not change, but it cites the removed source: it is read and named
    assert any(
        e.startswith("data/transfers.yaml:11:") and "unknown source id 'test-source'" in e
        for e in errors
    ), errors
    assert current_build(store) == before


def test_failed_incremental_build_leaves_the_store_untouched(project: tuple[Path, Path]) -> None:
    data, store = project
    before = current_build(store)
    quads = _quads(store)
    (data / "transfers.yaml").write_text("arms_transfers:\n  - id: t1\n    supplier: XXX\n")
    with pytest.raises(DataError):
        _build(data, store)
    assert current_build(store) == before
    assert _quads(store) == quads


def test_duplicate_id_against_an_unchanged_file(project: tuple[Path, Path]) -> None:
    data, store = project
    write_data(data, {"more.yaml": "states:\n  - id: IRN\n    label: Iran\n    alpha2: IR\n"})
    with pytest.raises(DataError, match=r"duplicate state id 'IRN' \(first defined in"):
        _build(data, store)


def test_the_manifest_records_hashes_and_graphs(project: tuple[Path, Path]) -> None:
    _, store = project
    m = manifest.load(current_build(store))
    assert m is not None
    assert set(m.files) == {"sources.yaml", "states.yaml", "transfers.yaml"}
    assert m.files["states.yaml"].id_keys() == [("state", "IRN"), ("state", "RUS")]
    assert len(m.files["states.yaml"].sha256) == 64
    assert isinstance(open_current(store)[0], ox.Store)


def test_a_change_to_code_in_any_subpackage_changes_the_model_hash(tmp_path: Path) -> None:
    copy = tmp_path / "kb"
    shutil.copytree(manifest.KB, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = manifest.model_sha256(copy)
    assert before == manifest.model_sha256()  # the copy hashes like the package
    module = copy / "sparql" / "reading.py"  # two floors down, far from kb/build/
    module.write_text(module.read_text() + "\n# changed\n")
    assert manifest.model_sha256(copy) != before


def test_a_new_model_hash_makes_the_next_build_a_full_one(
    project: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, store = project
    from kb.build import pipeline

    monkeypatch.setattr(pipeline, "model_sha256", lambda: "code that changed")
    compiled, report = _build(data, store)
    assert report.full and compiled.full
