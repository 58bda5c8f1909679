"""Ansible callback for bench/jobs.py: when each host's result reached the controller.

Appends one JSON line per host result to the file named by BENCH_TIMING_OUT:
{"host", "outcome", "t"} with `t` in seconds since the epoch (time.time()).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: bench_timing
    type: aggregate
    short_description: record when each host's result arrived (bench/jobs.py)
    description:
        - Appends one JSON line per host result to the file in BENCH_TIMING_OUT.
    requirements:
        - enabled in ANSIBLE_CALLBACKS_ENABLED
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._out = open(os.environ["BENCH_TIMING_OUT"], "a", encoding="utf-8")  # noqa: SIM115

    def _record(self, result: Any, outcome: str) -> None:
        now = time.time()
        # ansible-core 2.19 passes a CallbackTaskResult (.host); older ones a TaskResult (._host).
        host = getattr(result, "host", None) or result._host
        line = {"host": host.get_name(), "outcome": outcome, "t": now}
        self._out.write(json.dumps(line) + "\n")
        self._out.flush()

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, "failed")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, "unreachable")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, "skipped")
