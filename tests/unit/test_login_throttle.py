import os
from collections import Counter
from contextlib import ExitStack

import pytest
from pydantic import ValidationError

from pamnode.app.settings import Settings
from pamnode.core.errors import Throttled
from pamnode.identity.login_guard import HANDSHAKES_PER_S, CheckSlots, HandshakeRate, LoginGuard
from pamnode.identity.throttle import (
    FORGET_AFTER_S,
    MAX_WAIT_S,
    SOURCE_FREE_FAILURES,
    USER_FREE_FAILURES,
    Attempt,
    LoginThrottle,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, keys: tuple[str, ...]) -> list:
    with throttle.attempt(keys) as attempt:
        return attempt.failed()


def test_the_wait_doubles_after_the_free_failures_and_stops_at_the_cap():
    clock = Clock()
    throttle = LoginThrottle(clock)
    keys = throttle.keys("corp", "Lucy", "10.0.0.1")
    waits = []
    for _ in range(USER_FREE_FAILURES + 12):
        clock.now += throttle.wait_s(keys)
        fail(throttle, keys)
        waits.append(throttle.wait_s(keys))
    assert waits[: USER_FREE_FAILURES - 1] == [0] * (USER_FREE_FAILURES - 1)
    assert waits[USER_FREE_FAILURES - 1 : USER_FREE_FAILURES + 3] == [1, 2, 4, 8]
    assert waits[-1] == MAX_WAIT_S


def test_a_locked_key_refuses_the_attempt_before_it_is_checked():
    throttle = LoginThrottle(Clock())
    keys = throttle.keys("corp", "lucy", "10.0.0.1")
    for _ in range(USER_FREE_FAILURES):
        fail(throttle, keys)
    with pytest.raises(Throttled) as refused, throttle.attempt(keys):
        pytest.fail("a locked login was let through to its check")
    assert refused.value.code == "login_throttled" and refused.value.retry_after_s == 1


def test_only_the_failure_that_crosses_a_threshold_reports_a_lock():
    throttle = LoginThrottle(Clock())
    keys = throttle.keys("corp", "lucy", "10.0.0.1")
    locks = [fail(throttle, keys) for _ in range(USER_FREE_FAILURES)]
    assert [bool(found) for found in locks] == [False] * (USER_FREE_FAILURES - 1) + [True]
    assert locks[-1][0].key == "user:corp/lucy" and locks[-1][0].seconds == 1


def test_attempts_at_once_are_admitted_as_often_as_the_allowance():
    """Forty attempts being checked at once: the first five take the login's allowance, the
    rest are refused before their check (the decision and the count are one step)."""
    throttle = LoginThrottle(Clock())
    keys = throttle.keys("corp", "lucy", "10.0.0.1")
    admitted: list[Attempt] = []
    refused = []
    with ExitStack() as checking:
        for _ in range(40):
            try:
                admitted.append(checking.enter_context(throttle.attempt(keys)))
            except Throttled as exc:
                refused.append(exc)
        for attempt in admitted:
            attempt.failed()
    assert len(admitted) == USER_FREE_FAILURES
    assert {(exc.code, exc.retry_after_s) for exc in refused} == {("login_throttled", 1)}
    # Their failures lock the login.
    assert throttle.wait_s(keys) == 1


def test_past_the_free_failures_one_attempt_at_a_time():
    clock = Clock()
    throttle = LoginThrottle(clock)
    keys = throttle.keys("corp", "lucy", "10.0.0.1")
    for _ in range(USER_FREE_FAILURES):
        fail(throttle, keys)
    clock.now += throttle.wait_s(keys)
    with throttle.attempt(keys), pytest.raises(Throttled), throttle.attempt(keys):
        pass


def test_an_attempt_that_ends_without_an_outcome_gives_its_place_back():
    throttle = LoginThrottle(Clock())
    keys = throttle.keys("corp", "lucy", "10.0.0.1")
    for _ in range(USER_FREE_FAILURES * 3):
        with pytest.raises(RuntimeError), throttle.attempt(keys):
            raise RuntimeError("the check could not be made")
    assert throttle.wait_s(keys) == 0
    assert fail(throttle, keys) == []


def test_success_clears_the_user_but_not_the_source():
    throttle = LoginThrottle(Clock())
    user, source = throttle.keys("corp", "lucy", "10.0.0.1")
    for _ in range(SOURCE_FREE_FAILURES):
        fail(throttle, (source,))
    for _ in range(USER_FREE_FAILURES - 1):
        fail(throttle, (user,))
    with throttle.attempt((user,)) as attempt:
        attempt.succeeded()
    assert throttle.wait_s((user,)) == 0
    assert all(fail(throttle, (user,)) == [] for _ in range(USER_FREE_FAILURES - 1))
    assert throttle.wait_s((source,)) == 1


def test_a_quiet_key_is_forgotten():
    clock = Clock()
    throttle = LoginThrottle(clock)
    keys = throttle.keys("corp", "lucy", "10.0.0.1")
    for _ in range(USER_FREE_FAILURES + 3):
        clock.now += throttle.wait_s(keys)
        fail(throttle, keys)
    clock.now += FORGET_AFTER_S + 1
    assert throttle.wait_s(keys) == 0
    assert fail(throttle, keys) == []


def test_checks_past_the_slots_are_turned_away_at_once():
    slots = CheckSlots(2)
    with slots.slot(), slots.slot():
        with pytest.raises(Throttled) as busy, slots.slot():
            pytest.fail("a third check ran beside two slots")
        assert busy.value.code == "login_busy" and busy.value.retry_after_s == 1
    with slots.slot():
        pass


def test_key_exchanges_past_the_rate_are_refused_and_the_rate_refills():
    clock = Clock()
    rate = HandshakeRate(40, clock)
    assert [rate.take() for _ in range(11)] == [True] * 10 + [False]
    # A quarter of a second refills a burst, and no more.
    clock.now += 0.25
    assert [rate.take() for _ in range(11)] == [True] * 10 + [False]
    clock.now += 60
    assert sum(rate.take() for _ in range(20)) == 10


def test_the_key_exchange_rate_is_one_for_the_event_loop_whatever_the_cpus(monkeypatch):
    # Every key exchange runs on the node's one event loop: more CPUs do not serve more.
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)))
    assert LoginGuard().handshakes.per_s == HANDSHAKES_PER_S
    assert Settings().ssh_proxy_handshakes_per_s == HANDSHAKES_PER_S
    monkeypatch.setenv("PAMNODE_SSH_PROXY_HANDSHAKES_PER_S", "0")
    with pytest.raises(ValidationError, match="ssh_proxy_handshakes_per_s"):
        Settings()


def test_refusal_pauses_are_spread_so_a_crowd_turned_away_together_comes_back_apart():
    guard = LoginGuard(refusal_pause_s=1.0)
    pauses = [guard.refusal_pause() for _ in range(400)]
    assert all(0.5 <= pause <= 1.5 for pause in pauses)
    # Spread over the range: in each tenth of it about 40 of the 400 pauses.
    tenths = Counter(min(int((pause - 0.5) * 10), 9) for pause in pauses)
    assert len(tenths) == 10 and min(tenths.values()) >= 15
    assert LoginGuard(refusal_pause_s=0).refusal_pause() == 0
