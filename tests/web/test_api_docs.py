"""The API docs page in a real browser with no way out to the internet: it loads from the node
alone, and its Authorize button sends the token with Try it out."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.support.identity import create_tenant

TENANT = "docs"


@pytest.fixture(scope="module")
def node_and_token(node_factory):
    node = node_factory("apidocs")
    return node, create_tenant(node, TENANT)


def _offline(page: Page, origin: str) -> list[str]:
    """Abort every request that leaves the node; the URLs that tried."""
    left: list[str] = []

    def route(route: Route) -> None:
        url = route.request.url
        if f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" == origin:
            route.continue_()
        else:
            left.append(url)
            route.abort()

    page.route("**/*", route)
    return left


def test_docs_load_offline_and_authorize_sends_the_token(node_and_token, new_page, shot):
    node, token = node_and_token
    page = new_page()
    left = _offline(page, node.base_url)
    page.goto(f"{node.base_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("pamnode")

    page.locator("button.authorize").first.click()
    page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(token)
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    shot(page, "api-docs-authorized")

    operation = page.locator("#operations-users-list_users_ztna__tenant___site__api_users_get")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("input[placeholder=tenant]").fill(TENANT)
    operation.locator("input[placeholder=site]").fill("root")
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text("200")
    shot(page, "api-docs-try-it-out")
    assert left == []
