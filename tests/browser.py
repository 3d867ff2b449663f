"""A real headless browser for the tests: Chromium driven over the DevTools protocol on a pipe (no network, no
extra Python package). `find()` names the browser or None; `render(page)` opens a file and reports what the page
shows: every <img>'s decoded size, the page's height and its visible text.

Install one with `sudo apt-get install chromium` (Debian/Ubuntu) or point DESCEND_BROWSER at a Chrome/Chromium
binary; `make browser-check` runs the page tests that need it.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find() -> str | None:
    """The browser to use: $DESCEND_BROWSER, else the first Chrome/Chromium on PATH."""
    chosen = os.environ.get("DESCEND_BROWSER")
    if chosen:
        return chosen if shutil.which(chosen) else None
    return next((found for name in NAMES if (found := shutil.which(name))), None)


class Pipe:
    """One DevTools connection: send a command, wait for its answer (events in between are skipped)."""

    def __init__(self, browser: str, profile: str):
        to_browser, self.writer = os.pipe()
        self.reader, from_browser = os.pipe()

        def wire():   # the browser reads commands on fd 3 and writes answers on fd 4
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.process = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             f"--user-data-dir={profile}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, pass_fds=(3, 4))   # kept open after wire() set them
        os.close(to_browser)
        os.close(from_browser)
        self.buffer, self.next_id = b"", 0

    def call(self, method: str, session: str | None = None, timeout: float = 30.0, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.writer, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self.next_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer["result"]
            chunk = os.read(self.reader, 1 << 16)
            if not chunk:
                raise RuntimeError(f"the browser closed the connection during {method}")
            self.buffer += chunk
        raise TimeoutError(f"no answer to {method} in {timeout} s")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            self.process.kill()
        self.process.wait(timeout=10)
        os.close(self.writer)
        os.close(self.reader)


PAGE_FACTS = """JSON.stringify({
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                                          height: i.naturalHeight, shown: i.getBoundingClientRect().width})),
  height: document.body.scrollHeight, text: document.body.innerText,
  external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))
              .filter(u => !u.startsWith('data:') && !u.startsWith('#'))})"""


def render(page: Path, screenshot: Path | None = None, timeout: float = 30.0) -> dict:
    """Open `page` in the headless browser once it has loaded; return PAGE_FACTS (and write a PNG screenshot of
    the whole page to `screenshot` when given)."""
    browser = find()
    if browser is None:
        raise RuntimeError("no Chrome/Chromium found (see tests/browser.py)")
    with tempfile.TemporaryDirectory() as profile:
        pipe = Pipe(browser, profile)
        try:
            url = Path(page).resolve().as_uri()
            target = pipe.call("Target.createTarget", url=url)["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            deadline = time.monotonic() + timeout
            loaded = f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
            while not _evaluate(pipe, session, loaded):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{page} did not finish loading in {timeout} s")
                time.sleep(0.1)
            facts = json.loads(_evaluate(pipe, session, PAGE_FACTS))
            if screenshot is not None:
                shot = pipe.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            return facts
        finally:
            pipe.close()


def _evaluate(pipe: Pipe, session: str, expression: str):
    answer = pipe.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
    if "exceptionDetails" in answer:
        raise RuntimeError(f"the page's script failed: {answer['exceptionDetails']}")
    return answer["result"].get("value")
