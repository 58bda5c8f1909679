"""Which refusals reach the audit trail: a sample, so that a flood cannot flood the trail.

The first refusal of each kind (tenant, site, actor, source, code) in a window is recorded;
the next ones in that window are only counted, and the first refusal of the next window
carries that count (`suppressed`). Codes that mark an event of their own (a login lock) are
always recorded. A login turned away because the node is checking as many as it can
(`login_busy`) says nothing of the login it named, which a crowd makes up afresh for every
guess: it is counted per source, whatever the login. The counts live in this node's memory.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

WINDOW_S = 60.0
ALWAYS_RECORDED = frozenset({"login_locked"})
PER_SOURCE = frozenset({"login_busy"})
MAX_KINDS = 50_000

Kind = tuple[str, str, str, str, str]


class RefusalSampler:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # kind -> (start of its window, refusals counted but not recorded)
        self._windows: OrderedDict[Kind, tuple[float, int]] = OrderedDict()

    def admit(self, kind: Kind) -> int | None:
        """None: count it, do not record it. Otherwise record it, with this many suppressed."""
        if kind[-1] in ALWAYS_RECORDED:
            return 0
        if kind[-1] in PER_SOURCE:
            kind = (kind[0], kind[1], "", kind[3], kind[4])
        now = self._clock()
        started, suppressed = self._windows.get(kind, (now - WINDOW_S, 0))
        if now - started < WINDOW_S:
            self._windows[kind] = (started, suppressed + 1)
            return None
        self._windows[kind] = (now, 0)
        self._windows.move_to_end(kind)
        while len(self._windows) > MAX_KINDS:
            self._windows.popitem(last=False)
        return suppressed
