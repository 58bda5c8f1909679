from pamnode.identity.throttle import (
    FORGET_AFTER_S,
    MAX_WAIT_S,
    SOURCE_FREE_FAILURES,
    USER_FREE_FAILURES,
    LoginThrottle,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_doubles_after_the_free_failures_and_stops_at_the_cap():
    clock = Clock()
    throttle = LoginThrottle(clock)
    keys = throttle.keys("corp", "Lucy", "10.0.0.1")
    waits = []
    for _ in range(USER_FREE_FAILURES + 12):
        clock.now += throttle.wait_s(keys)
        throttle.failed(keys)
        waits.append(throttle.wait_s(keys))
    assert waits[: USER_FREE_FAILURES - 1] == [0] * (USER_FREE_FAILURES - 1)
    assert waits[USER_FREE_FAILURES - 1 : USER_FREE_FAILURES + 3] == [1, 2, 4, 8]
    assert waits[-1] == MAX_WAIT_S


def test_only_the_failure_that_crosses_a_threshold_reports_a_lock():
    throttle = LoginThrottle(Clock())
    keys = throttle.keys("corp", "lucy", "10.0.0.1")
    locks = [throttle.failed(keys) for _ in range(USER_FREE_FAILURES)]
    assert [bool(found) for found in locks] == [False] * (USER_FREE_FAILURES - 1) + [True]
    assert locks[-1][0].key == "user:corp/lucy" and locks[-1][0].seconds == 1


def test_success_clears_the_user_but_not_the_source():
    throttle = LoginThrottle(Clock())
    user, source = throttle.keys("corp", "lucy", "10.0.0.1")
    for _ in range(SOURCE_FREE_FAILURES):
        throttle.failed((source,))
    for _ in range(USER_FREE_FAILURES):
        throttle.failed((user,))
    throttle.succeeded(user)
    assert throttle.wait_s((user,)) == 0
    assert throttle.wait_s((source,)) == 1


def test_a_quiet_key_is_forgotten():
    clock = Clock()
    throttle = LoginThrottle(clock)
    keys = throttle.keys("corp", "lucy", "10.0.0.1")
    for _ in range(USER_FREE_FAILURES + 3):
        throttle.failed(keys)
    clock.now += FORGET_AFTER_S + 1
    assert throttle.wait_s(keys) == 0
    assert throttle.failed(keys) == []
