"""geokb installs as a user would: `pip install .` without extras into a clean virtual
environment, then works in a folder holding only data/; and its runtime dependencies are
exactly the third-party modules its code imports."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"kb", "api"}
# Imported only by code that says so, behind an extra: module -> the extra declaring it.
OPTIONAL = {"pyshacl": "reference"}  # kb/build/reference_checks.py, for the tests only


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_modules() -> dict[str, str]:
    """Every top-level module imported anywhere in kb/ and api/ (at the top of a module or
    inside a function), but the standard library and geokb's own: module -> first place."""
    found: dict[str, str] = {}
    for package in sorted(FIRST_PARTY):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in FIRST_PARTY:
                        continue
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_runtime_dependencies_are_exactly_what_the_code_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]}
    extras = {
        extra: {_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()
    }
    distributions = importlib.metadata.packages_distributions()
    used: set[str] = set()
    for module, where in _imported_modules().items():
        owners = {_name(d) for d in distributions.get(module, [])}
        assert owners, f"{where}: '{module}' is imported but installed by no distribution"
        if module in OPTIONAL:
            assert owners & extras[OPTIONAL[module]], f"{where}: '{module}' not in its extra"
            continue
        assert owners & declared, (
            f"{where}: '{module}' (from {', '.join(sorted(owners))}) is imported but not a "
            "runtime dependency in pyproject.toml"
        )
        used |= owners & declared
    assert declared == used, f"declared but never imported: {sorted(declared - used)}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.skipif(os.environ.get("GEOKB_SKIP_INSTALL") == "1", reason="GEOKB_SKIP_INSTALL=1")
def test_pip_install_without_extras_then_build_and_serve_elsewhere(tmp_path: Path) -> None:
    # the sources as a release holds them (a copy: building must not write into the tree)
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("kb", "api"):
        shutil.copytree(ROOT / part, source / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run(
        [bin_dir / "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        check=True,
        env=env,
        timeout=600,
    )
    # a folder holding only data/, far from the repository
    work = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "data", work / "data")
    geokb = str(bin_dir / "geokb")

    def run(*args: str) -> str:
        done = subprocess.run(
            [geokb, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run("validate").startswith("ok: ")
    assert "built " in run("build", "--quiet") or (work / ".geokb").is_dir()
    port = _free_port()
    server = subprocess.Popen(
        [geokb, "serve", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/sparql", timeout=2)
                break
            except httpx.HTTPError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "geokb serve did not start"
                time.sleep(0.1)
        ask = "ASK { <https://w3id.org/geokb/id/state/IRN> ?p ?o }"
        resp = httpx.get(
            url + "/sparql",
            params={"query": ask},
            headers={"Accept": "application/sparql-results+json"},
            timeout=30,
        )
        assert resp.status_code == 200 and resp.json()["boolean"] is True
        page = httpx.get(url + "/id/state/IRN", headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and "Iran" in page.text
    finally:
        server.terminate()
        server.wait(timeout=20)
