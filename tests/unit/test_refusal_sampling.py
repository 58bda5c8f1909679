from pamnode.http.refusals import WINDOW_S, RefusalSampler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_busy_logins_are_sampled_per_source_whatever_login_they_name():
    """A crowd makes up a login for every guess: turned away busy, each would have written a
    row of its own."""
    clock = Clock()
    sampler = RefusalSampler(clock)
    busy = [
        sampler.admit(("corp", "root", f"ghost-{i}", "10.0.0.9", "login_busy")) for i in range(50)
    ]
    assert busy[0] == 0 and busy[1:] == [None] * 49
    assert sampler.admit(("corp", "root", "ghost-x", "10.0.0.8", "login_busy")) == 0
    clock.now += WINDOW_S
    assert sampler.admit(("corp", "root", "ghost-y", "10.0.0.9", "login_busy")) == 49


def test_wrong_passwords_are_still_sampled_per_login():
    sampler = RefusalSampler(Clock())
    kinds = [("corp", "root", f"user-{i}", "10.0.0.9", "login_failed") for i in range(3)]
    assert [sampler.admit(kind) for kind in kinds] == [0, 0, 0]
