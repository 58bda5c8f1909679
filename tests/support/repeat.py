"""A pytest plugin that runs each selected test `REPEAT` times in a row (20 unless set), for
checking that a test once seen flaky holds: `REPEAT=20 bash scripts/test.sh -p
tests.support.repeat PATH::TEST`. pytest-repeat's `--count` does the same; this avoids a
dependency used only for that. Each run is a parameter of its own (`[0]` … `[19]`), so module
fixtures are shared and a failure names its run."""

import os

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    metafunc.fixturenames.append("_repeat_run")
    metafunc.parametrize("_repeat_run", range(int(os.environ.get("REPEAT", "20"))))
