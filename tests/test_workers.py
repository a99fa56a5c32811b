"""Worker processes must build exactly what one process builds, and fail the same way."""

from pathlib import Path

import pytest
from conftest import DATA, MINI, write_data

from kb.build.pipeline import compile_data
from kb.errors import DataError


def _triples(jobs: int, data: Path) -> dict[str, set[str]]:
    compiled = compile_data(data, jobs=jobs)
    return {str(iri): {str(t) for t in g.triples()} for iri, g in compiled.graphs.items()}


def test_workers_build_the_same_graphs_and_manifest_as_one_process() -> None:
    one, two = compile_data(DATA, jobs=1), compile_data(DATA, jobs=2)
    assert _triples(1, DATA) == _triples(2, DATA)
    assert one.manifest == two.manifest
    assert (one.records, one.triple_count()) == (two.records, two.triple_count())
    # per file, even the bytes: the same triples in the same order
    assert {i: g.data for i, g in one.graphs.items() if "/data/" in i} == {
        i: g.data for i, g in two.graphs.items() if "/data/" in i
    }


def _problems(data: Path, jobs: int) -> list[str]:
    with pytest.raises(DataError) as info:
        compile_data(data, jobs=jobs)
    return [str(p) for p in info.value.problems]


BROKEN = {
    # a duplicate id across files, an unknown reference and a bad value in another file,
    # and a YAML syntax error in a third: each found by a different step and worker
    **MINI,
    "more.yaml": """\
        states:
          - id: IRN
            label: Iran again
            alpha2: IR
        arms_transfers:
          - id: t2
            supplier: IRN
            recipient: RUX
            weapon_systems: [drone-x]
            sources: [test-source]
          - id: t3
            supplier: IRN
            recipient: RUS
            weapon_systems: [drone-x]
            quantity_ordered: many
            sources: [test-source]
        """,
    "zz.yaml": "states:\n  - id: FRA\n    label: [France\n",
}


def test_workers_report_the_same_problems_in_the_same_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # problems name files relative to where geokb runs
    data = write_data(Path("data"), BROKEN)
    serial = _problems(data, 1)
    assert [p.split("\n")[0] for p in serial] == [
        "data/more.yaml:8:16: arms_transfers[0].recipient: unknown state id 'RUX'",
        "data/more.yaml:15:23: arms_transfers[1].quantity_ordered: "
        "'many' is not a whole number ≥ 0",
        "data/states.yaml:2:5: id: duplicate state id 'IRN' (first defined at data/more.yaml:2:5)",
        "data/zz.yaml:3:12: YAML syntax error: this '[' is never closed",
    ]
    assert _problems(data, 2) == _problems(data, 3) == serial


def test_workers_report_shape_and_reference_problems_alike(tmp_path: Path) -> None:
    files = {
        **MINI,
        "transfers.yaml": MINI["transfers.yaml"].replace("recipient: RUS", "recipient: RUR"),
        "more.yaml": "arms_transfers:\n  - id: t3\n    supplier: IRN\n    recipient: RUS\n",
    }
    data = write_data(tmp_path / "data", files)
    serial = _problems(data, 1)
    assert any("unknown state id 'RUR'" in p for p in serial)
    assert _problems(data, 2) == serial


def test_a_worker_killed_from_outside_fails_the_build_with_a_message(tmp_path: Path) -> None:
    import os
    import signal

    from kb.build.workers import Forked, WorkerError

    data = write_data(tmp_path / "data", MINI)
    files = {p.name: p for p in sorted(data.glob("*.yaml"))}
    steps = Forked(files, 2)
    try:
        os.kill(steps.procs[0].pid, signal.SIGKILL)  # as the kernel's OOM killer would
        steps.procs[0].join(timeout=5)
        with pytest.raises(WorkerError, match="killed by signal 9"):
            list(steps.read(sorted(files)))
    finally:
        steps.close()
