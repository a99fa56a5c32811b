"""Broken YAML of every kind, and builds killed half-way: clear errors, and the store that was
serving is never lost."""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA, MINI, write_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.errors import DataError
from kb.pipeline import compile_data
from kb.store import current_build, open_current

GEOKB = str(Path(sys.executable).parent / "geokb")
TRANSFER = MINI["transfers.yaml"]


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


BROKEN: dict[str, bytes | None] = {
    "alias-bomb": _bomb().encode(),
    "duplicate-key": b"states:\n  - id: IRN\n    label: Iran\n    label: Persia\n    alpha2: IR\n",
    "tabs": b"states:\n\t- id: IRN\n",
    "wrong-type": TRANSFER.replace(
        "delivery_start_date: 2022-10", "quantity_ordered: [1, 2]"
    ).encode(),
    "unknown-field": TRANSFER.replace("sources:", "colour: red\n            sources:").encode(),
    "unknown-id": TRANSFER.replace("recipient: RUS", "recipient: XXX").encode(),
    "duplicate-id": (
        TRANSFER + "          - id: t1\n            supplier: IRN\n"
        "            recipient: RUS\n            weapon_systems: [drone-x]\n"
        "            sources: [test-source]\n"
    ).encode(),
    "impossible-date": TRANSFER.replace("2022-10", "2022-02-30").encode(),
    "not-utf8": b"arms_transfers:\n  - id: t\xff1\n",
    "empty": b"",
    "deep-nesting": ("states: " + "[" * 5000 + "]" * 5000).encode(),
    "huge": None,  # written below: 100 MB
    "directory": None,
}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    write_data(tmp_path / "data", MINI)
    done = subprocess.run(
        [GEOKB, "build"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return tmp_path


def _store_digest(root: Path) -> str:
    store, _ = open_current(root)
    quads = sorted(str(q) for q in store.quads_for_pattern(None, None, None, None))
    return hashlib.sha256("\n".join(quads).encode()).hexdigest()


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_input_gives_a_located_error_and_keeps_the_store(project: Path, case: str) -> None:
    target = project / "data" / "transfers.yaml"
    if case == "directory":
        target.unlink()
        target.mkdir()
    elif case == "huge":
        with target.open("wb") as f:
            f.write(b"# padding\n" * (10 * 1024 * 1024))
    else:
        target.write_bytes(BROKEN[case] or b"")
    before = current_build(project / ".geokb")
    digest = _store_digest(project / ".geokb")
    t0 = time.monotonic()
    done = subprocess.run([GEOKB, "build"], cwd=project, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - t0
    assert done.returncode == 1, (case, done.returncode, done.stderr[-500:])
    assert "Traceback" not in done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("data/transfers.yaml"), (case, first)
    if case not in ("directory", "huge", "empty"):
        assert first.split(":")[1].isdigit(), (case, first)  # a line number
    assert "nothing was built" in done.stderr
    assert elapsed < 10, (case, elapsed)
    assert current_build(project / ".geokb") == before
    assert _store_digest(project / ".geokb") == digest


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_yaml_is_built_or_refused_with_a_location(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    text = TRANSFER
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(
            st.sampled_from(
                [
                    "\t",
                    ":",
                    "- ",
                    "[",
                    "]",
                    "{",
                    "}",
                    "&a",
                    "*a",
                    "\n",
                    "  ",
                    "'",
                    '"',
                    "#",
                    "null",
                    "1",
                    "id: t1",
                    "\x00",
                    "é",
                    "\ufeff",
                    ",",
                    "!!python/object",
                    "<<: *a",
                ]
            )
        )
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + len(piece) :]
        else:
            text = text[:at] + piece + text[at + 1 :]
    folder = write_data(tmp_path_factory.mktemp("mutated"), {**MINI, "transfers.yaml": ""})
    (folder / "transfers.yaml").write_text(text, encoding="utf-8")
    try:
        compile_data(folder)
    except DataError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.location.file.endswith(".yaml")
            assert problem.message


def test_builds_killed_at_random_points_never_lose_the_store(tmp_path: Path) -> None:
    shutil.copytree(DATA, tmp_path / "data")
    done = subprocess.run([GEOKB, "build"], cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 0
    root = tmp_path / ".geokb"
    digest = _store_digest(root)
    t0 = time.monotonic()
    subprocess.run([GEOKB, "build", "--full"], cwd=tmp_path, capture_output=True, timeout=120)
    full_s = time.monotonic() - t0
    rng = random.Random(1234)
    for _ in range(12):
        proc = subprocess.Popen(
            [GEOKB, "build", "--full"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.0, full_s))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # whatever the moment, the current build opens and holds the same data
        assert _store_digest(root) == digest
    done = subprocess.run(
        [GEOKB, "build", "--full"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert _store_digest(root) == digest
    assert not list((root / "builds").glob("*.partial"))
