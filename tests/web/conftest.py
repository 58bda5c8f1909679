"""Fixtures of the browser tests: Debian's chromium driven by Playwright (tests/support/browser.py
says how it is started and why in a namespace of its own), real nodes, an sshd."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pamnode.lab.ports import free_port
from pamnode.lab.sshd import SshServer
from tests.support.browser import TIMEOUT_MS, chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


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
