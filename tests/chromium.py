"""Headless Chromium driven over the DevTools protocol on a pipe, for the page tests.

One browser, one tab, many pages: `Browser.open(url, ready=...)` navigates, waits until the page
has loaded and a JavaScript condition holds, and keeps what the page did meanwhile — every
request it sent, every console error, CSP report and uncaught exception — so a test can assert
that nothing left the server's origin and nothing failed, as a person's browser would show it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As the machine's notes say: without the background-networking flags Chromium tries to reach
# Google's hosts at start, which this machine's closed network refuses.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The window of the browser the page tests share (conftest's ``browser``), in CSS pixels.
WINDOW = (1300, 1100)


@dataclass
class Visit:
    """What one page load did: the requests it sent and the errors it showed."""

    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Browser:
    """A headless Chromium with one tab; use as a context manager."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        assert CHROMIUM, "chromium is installed by 'make test' (Debian package 'chromium')"
        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        to_r, self._to = os.pipe()
        self._from, from_w = os.pipe()

        def pipes() -> None:  # in the child: fd 3 reads commands, fd 4 writes answers
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe",
             "about:blank"],
            preexec_fn=pipes, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_r)
        os.close(from_w)
        self._pending = b""
        self._sent = 0
        self._visit: Visit | None = None
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session: str = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable", {}, self._session)
        self.resize(width, height)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resize(self, width: int, height: int = 1000) -> None:
        """Lay the page out again for a window of width x height CSS pixels."""
        self._call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            self._session,
        )

    def open(self, url: str, ready: str = "true", limit: float = 20.0) -> Visit:
        """Navigate to url and wait until it has loaded and `ready` (JavaScript) is true."""
        here = self.evaluate("location.href")
        if here.split("#")[0] == url.split("#")[0] and here != "about:blank":
            # only the fragment differs: Chromium would not load the page again
            self._call("Page.navigate", {"url": "about:blank"}, self._session)
        self._visit = Visit(url)
        self._call("Page.navigate", {"url": url}, self._session)
        condition = (
            f"location.href !== 'about:blank' && document.readyState === 'complete' && !!({ready})"
        )
        self.wait(condition, limit, f"{url}: the page never made this true: {ready}")
        return self._visit

    def wait(self, condition: str, limit: float = 5.0, message: str = "") -> None:
        """Poll until the JavaScript `condition` is true; fail after `limit` seconds."""
        deadline = time.monotonic() + limit
        while self.evaluate(f"!!({condition})") is not True:
            assert time.monotonic() < deadline, message or f"never true: {condition}"
            time.sleep(0.05)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        answer = self._call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self._session,
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression[:80]}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def screenshot(self, path: Path) -> int:
        """Save what the window shows as a PNG at ``path``; its size in bytes."""
        shot = self._call("Page.captureScreenshot", {"format": "png"}, self._session)
        return path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        """Ask the browser to quit (/usr/bin/chromium is a shell script: a kill misses it)."""
        try:
            os.write(self._to, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self._process.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        os.close(self._to)
        os.close(self._from)
        self._profile.cleanup()

    def _call(self, method: str, params: dict[str, Any], session: str | None = None) -> Any:
        self._sent += 1
        message: dict[str, Any] = {"id": self._sent, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" in self._pending:
                raw, self._pending = self._pending.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._sent:
                    assert "error" not in answer, (method, answer)
                    return answer["result"]
                if "method" in answer:
                    self._event(answer["method"], answer.get("params", {}))
            chunk = os.read(self._from, 1 << 20)
            assert chunk, "chromium closed its pipe"
            self._pending += chunk

    def _event(self, method: str, params: dict[str, Any]) -> None:
        visit = self._visit
        if visit is None:
            return
        if method == "Network.requestWillBeSent":
            visit.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            visit.errors.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            visit.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            visit.errors.append(
                f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}"
            )
