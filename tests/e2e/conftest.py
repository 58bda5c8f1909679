"""The browser of tests/web (Debian's chromium driven by Playwright), for the end-to-end tests
that open a console."""

from tests.web.conftest import browser, new_page  # noqa: F401
