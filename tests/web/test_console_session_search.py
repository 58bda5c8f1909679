"""Reports > Sessions' search in the browser: a command typed in a proxy shell (the replay
module's recorded shell) is found, and its Replay at m:ss link opens the player at that moment,
with the command on the screen and what came after not yet."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.web.test_console_terminal_replay import SCREEN, _screen
from tests.web.test_console_terminal_replay import recorded as recorded  # the fixture
from tests.web.test_console_walkthrough import log_in


def test_a_search_links_to_the_moment_in_playback(recorded, new_page, shot):
    # The replay module's shell (its fixture holds more since: the first two are these).
    main, session_id = recorded[0], recorded[1]
    page = new_page()
    log_in(page, f"{main.base_url}/ztna/corp/root", "tadmin")
    page.goto(f"{main.base_url}/ztna/corp/root/sessions")
    # A search without a word is refused next to the box, which keeps what was typed.
    page.get_by_label("Search").fill("--- ;")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#f-q-error")).to_contain_text("the search needs a word")
    expect(page.get_by_label("Search")).to_have_value("--- ;")
    page.get_by_label("Search").fill("first-21")
    page.get_by_role("button", name="Search").click()
    replay = page.get_by_role("link", name=re.compile(r"^Replay at \d+:\d\d$"))
    # The session's text goes into the index a few seconds after its end.
    deadline = time.monotonic() + 30
    while not replay.count() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(page.locator("code.snippet")).to_contain_text("first-21")
    shot(page, "terminal-03-search")
    assert f"/sessions/{session_id}/replay?t=" in str(replay.get_attribute("href"))
    replay.click()
    expect(page.locator("#terminal-player")).to_have_attribute("data-state", "loaded")
    # The player starts where the command was on the screen: before the second one.
    page.wait_for_function(f"() => ({SCREEN})().includes('first-21')")
    assert "second-42" not in _screen(page)
    assert page.evaluate("window.pamnodeCast.getCurrentTime()") > 0
    shot(page, "terminal-04-at-the-moment")
