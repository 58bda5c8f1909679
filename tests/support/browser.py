"""The browser of the tests: Debian's chromium driven by Playwright, in a network namespace of
its own.

Why a namespace: Chromium aborts its page loads and requests with net::ERR_NETWORK_CHANGED
when an address comes or goes in its namespace, and the namespace modules add one in the root
namespace for each veth they make. Alone in a namespace with only its loopback, the browser
sees none of that, so the browser modules may run while the namespace modules run in another
shard (tests/support/shards.py).

How it reaches the nodes: every connection it opens goes to a CONNECT relay listening on the
namespace's loopback (`--proxy-server`, loopback included). The relay is served from this
process, which lives in the root namespace, and dials there exactly the address the page
named, `127.0.0.1:port` or a lab's veth address, so a node sees the same source as before.
The nodes serve only HTTPS, so the relay knows only CONNECT: a plain http:// load gets a 502.

Without the right to make a namespace (not root, no `ip`), chromium runs where the tests run:
the namespace modules cannot run there either, so nothing would disturb it.

The browser is never downloaded (`playwright install` is not used): a missing
/usr/bin/chromium is a LabUnavailable, which tests/conftest.py turns into a skip here and a
failure in CI.
"""

from __future__ import annotations

import asyncio
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pamnode.core.streams import Connection, splice
from pamnode.lab import LabUnavailable
from pamnode.lab.netns import Netns

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 20_000
# The longest request head the relay reads: a CONNECT line and a few headers.
HEAD_BYTES = 8192


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One browser connection: `CONNECT host:port`, dialled from the root namespace."""
    browser = Connection(reader, writer)
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b" ", 2)
        host, _, port = target.decode("ascii").rpartition(":")
        if method != b"CONNECT" or not port.isdigit():
            raise ValueError(f"not a CONNECT request: {head[:80]!r}")
        far = Connection(*await asyncio.open_connection(host.strip("[]"), int(port)))
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        # The browser shows its own error for a refused or unreachable address, as it would
        # have without the relay.
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        await browser.close()
        return
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await splice(browser, far)


class _Relay:
    """The CONNECT relay on `ns`'s loopback, on an event loop of its own thread (Playwright's
    sync API keeps the main thread's loop)."""

    def __init__(self, ns: Netns) -> None:
        self._listening = ns.listen()
        self.port = self._listening.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="browser-relay")

    def __enter__(self) -> _Relay:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(_relay, sock=self._listening, limit=HEAD_BYTES), self._loop
        )
        self._server = started.result(timeout=10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextmanager
def _own_namespace() -> Iterator[tuple[Path, list[str]]]:
    """The executable and arguments that start chromium in a namespace of its own, reaching
    out through the relay; chromium itself where no namespace can be made."""
    try:
        ns = Netns().create()
    except LabUnavailable:
        yield CHROMIUM, []
        return
    try:
        with _Relay(ns) as relay, tempfile.TemporaryDirectory(prefix="pamnode-browser-") as tmp:
            # Playwright starts an executable with its arguments; `ip netns exec` then execs
            # chromium in place, keeping the pipes Playwright talks over.
            launcher = Path(tmp) / "chromium"
            launcher.write_text(f'#!/bin/sh\nexec {" ".join(ns.argv([str(CHROMIUM)]))} "$@"\n')
            launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
            yield (
                launcher,
                [
                    f"--proxy-server=http://127.0.0.1:{relay.port}",
                    # Chromium never sends loopback to a proxy unless told so.
                    "--proxy-bypass-list=<-loopback>",
                ],
            )
    finally:
        ns.delete()


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
    with _own_namespace() as (executable, network_args), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                *network_args,
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
