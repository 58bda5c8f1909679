"""Fixtures of the browser tests: Debian's chromium driven by Playwright, real nodes, an sshd.

The browser is never downloaded (`playwright install` is not used): a missing
/usr/bin/chromium is a LabUnavailable, which tests/conftest.py turns into a skip here and a
failure in CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pamnode.lab import LabUnavailable
from pamnode.lab.ports import free_port
from pamnode.lab.sshd import SshServer

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 20_000


@contextmanager
def chromium() -> Iterator[object]:
    """Debian's chromium under Playwright's sync API.

    While it is open, Playwright's own event loop counts as running in the main thread, so no
    asyncio test can run until it closes: the browser tests come last in the suite and keep
    one for the session; the end-to-end tests, which asyncio tests follow, keep one a module.
    """
    if not CHROMIUM.exists():
        raise LabUnavailable(f"{CHROMIUM} is not installed (Debian package chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        raise LabUnavailable("the playwright Python package is not installed") from exc
    # Assertions wait as long as actions do: a loaded CI machine answers slowly, not wrongly.
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def new_page(browser):
    """Pages in fresh contexts (own cookies), 1280x800, trusting the nodes' own certificates.

    Script errors and Content-Security-Policy violations on any page fail the test.
    """
    contexts = []
    errors: list[str] = []

    def on_console(message) -> None:
        # Chromium logs every 4xx answer as an error; refusals are part of the tests.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    def make(width: int = 1280, height: int = 800):
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": width, "height": height}
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"errors in the browser: {errors}"


@pytest.fixture(scope="session")
def shot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        safe = re.sub(r"[^\w.-]", "_", name)
        page.screenshot(path=str(SCREENSHOTS / f"{safe}.png"))

    return take


@pytest.fixture(scope="module")
def sshd():
    with SshServer("127.0.0.1", free_port()) as server:
        yield server
