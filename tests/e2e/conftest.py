"""The browser of tests/web (Debian's chromium driven by Playwright), for the end-to-end tests
that open a console: one a module, closed before the asyncio tests that follow in the suite
(see `chromium`)."""

from collections.abc import Iterator

import pytest

from tests.support.browser import chromium
from tests.web.conftest import new_page  # noqa: F401


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched
