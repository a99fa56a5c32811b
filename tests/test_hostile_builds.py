"""Broken YAML of every kind, and builds killed half-way: clear errors, and the store that was
serving is never lost."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA, MINI, write_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.build.pipeline import compile_data
from kb.build.yamlfile import MAX_FILE_BYTES
from kb.errors import DataError
from kb.stores.local import current_build, open_current

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


# --- files that are not regular files, names that hold controls, files too large ---


def _build(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GEOKB, "build", *args], cwd=project, capture_output=True, text=True, timeout=timeout
    )


def _special(kind: str, where: Path) -> None:
    if kind == "fifo":
        os.mkfifo(where)
    elif kind == "symlink-to-fifo":
        os.mkfifo(where.with_suffix(".pipe"))
        where.symlink_to(where.with_suffix(".pipe").name)
    elif kind == "symlink-to-dev-zero":
        where.symlink_to("/dev/zero")
    elif kind == "symlink-to-dev-tty":
        where.symlink_to("/dev/tty")
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(where))  # the file stays after the socket closes
        listener.close()


@pytest.mark.parametrize(
    "kind",
    ["fifo", "symlink-to-fifo", "symlink-to-dev-zero", "symlink-to-dev-tty", "socket"],
)
def test_special_files_are_refused_at_once_naming_the_file(project: Path, kind: str) -> None:
    # Before: open() of a FIFO waits for a writer forever; /dev/zero never ends.
    _special(kind, project / "data" / "x.yaml")
    done = _build(project, timeout=30)  # the fix answers in a second; a hang times out
    assert done.returncode == 1, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("data/x.yaml: is "), first
    assert "not a regular file" in first
    assert "Traceback" not in done.stderr
    validate = subprocess.run(
        [GEOKB, "validate"], cwd=project, capture_output=True, text=True, timeout=30
    )
    assert validate.returncode == 1 and validate.stderr.startswith("data/x.yaml: is ")


def test_a_symlink_to_a_regular_file_is_read(project: Path) -> None:
    elsewhere = project / "elsewhere.yaml"
    (project / "data" / "states.yaml").rename(elsewhere)
    (project / "data" / "states.yaml").symlink_to(elsewhere)
    done = _build(project, "--full")
    assert done.returncode == 0, done.stderr


NAMES = [
    "x\ndata/forged.yaml:1:1: forged line\n.yaml",  # in a folder named "x\ndata"
    "x\r\x1b[2J\x1b]0;title\x07.yaml",
    "x\u202eLMTH.yaml",  # a right-to-left override
    "x\x85\x9b31m.yaml",  # C1 controls: NEL, CSI
]


@pytest.mark.parametrize("name", NAMES)
def test_control_characters_in_file_names_are_escaped_in_output(project: Path, name: str) -> None:
    (project / "data" / name).parent.mkdir(exist_ok=True)
    (project / "data" / name).write_text("states:\n\t- id: IRN\n", encoding="utf-8")
    done = _build(project)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert not any(line.startswith("data/forged.yaml") for line in lines), done.stderr
    assert lines[0].startswith("data/x"), lines[0]
    assert ":2:1: YAML syntax error" in lines[0], lines[0]  # the whole name on one line
    for char in "\r\x1b\x07\x85\x9b\u202e":
        assert char not in done.stderr, repr(char)
    as_json = _build(project, "--json")
    [error] = json.loads(as_json.stdout)["errors"]
    assert "\n" not in error["file"] and "\x1b" not in error["file"]
    assert "\\n" in error["file"] or "\\x" in error["file"] or "\\u" in error["file"]


def test_a_file_name_that_is_not_utf8_is_shown_and_built(project: Path) -> None:
    folder = os.fsencode(project / "data")
    with open(os.path.join(folder, b"caf\xe9.yaml"), "wb") as f:
        f.write(b"states:\n  - id: FRA\n    label: France\n    alpha2: FR\n")
    done = _build(project)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    os.unlink(os.path.join(folder, b"caf\xe9.yaml"))
    with open(os.path.join(folder, b"caf\xe9.yaml"), "wb") as f:
        f.write(b"states:\n\t- id: FRA\n")
    done = _build(project)
    assert done.returncode == 1
    assert done.stderr.startswith("data/caf\\xe9.yaml:2:1:"), done.stderr


def _padded(path: Path, mib: float) -> None:
    with path.open("ab") as f:  # valid records, then comments up to the size
        f.write(b"# padding\n" * int((mib * 1024 * 1024 - path.stat().st_size) / 10))


def test_a_file_over_the_size_limit_is_refused_with_size_limit_and_remedy(
    project: Path,
) -> None:
    _padded(project / "data" / "transfers.yaml", 9)
    done = _build(project)
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first == "data/transfers.yaml: file is 9 MiB; the limit is 8 MiB per file", first
    assert "split it into several smaller files" in done.stderr
    assert "--max-file-mb" in done.stderr
    # the limit is the operator's to raise
    assert _build(project, "--max-file-mb", "10").returncode == 0
    validate = subprocess.run(
        [GEOKB, "validate", "--max-file-mb", "1"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert validate.returncode == 1 and "the limit is 1 MiB" in validate.stderr


def test_the_default_size_limit_passes_real_and_benchmark_data(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    try:
        from synthetic import generate  # the benchmark's own generator
    finally:
        sys.path.pop(0)
    generate(tmp_path / "bench", 1_000_000, files=100)
    largest = max(
        p.stat().st_size for folder in (DATA, tmp_path / "bench") for p in folder.glob("*.yaml")
    )
    assert largest * 8 < MAX_FILE_BYTES, largest  # room for benchmarks ~8x larger


# --- a damaged current build ---

DAMAGE = ["remove-CURRENT", "truncate-table", "overwrite-table", "remove-table", "manifest"]


def _damage(build: Path, how: str) -> None:
    table = max(build.glob("*.sst"), key=lambda p: p.stat().st_size)
    if how == "remove-CURRENT":
        (build / "CURRENT").unlink()
    elif how == "truncate-table":
        os.truncate(table, 100)
    elif how == "overwrite-table":
        with table.open("r+b") as f:  # same size, bytes in the middle garbled
            f.seek(table.stat().st_size // 2)
            f.write(b"\xff" * 512)
    elif how == "remove-table":
        table.unlink()
    elif how == "manifest":
        [manifest] = build.glob("MANIFEST-*")
        with manifest.open("r+b") as f:
            f.seek(100)
            f.write(b"x" * 200)


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("edited", [True, False])
def test_a_damaged_build_is_rebuilt_in_full_by_the_next_build(
    project: Path, how: str, edited: bool
) -> None:
    root = project / ".geokb"
    digest = _store_digest(root)
    _damage(current_build(root) or project, how)
    if edited:  # an incremental build would copy the damaged store
        with (project / "data" / "states.yaml").open("a") as f:
            f.write("# edited\n")
    done = _build(project)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    [notice] = [line for line in done.stderr.splitlines() if "damaged" in line]
    assert notice.startswith("the current build is damaged ("), notice
    assert notice.endswith("); building in full"), notice
    assert str(project) not in notice  # paths as typed, relative
    assert "(full build)" in done.stdout
    assert _store_digest(root) == digest  # the same data, whole again
    again = _build(project)  # and the builds after it are incremental as before
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
