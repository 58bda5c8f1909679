"""`serve --log-format json`'s lines and the request id they carry."""

import asyncio
import json
import logging
import subprocess
import sys

import pytest

from pamnode.app.logs import JsonLines
from pamnode.app.settings import LogFormat
from pamnode.core.request_id import (
    REQUEST_ID,
    RequestIdFilter,
    accepted_request_id,
    background_task,
    outgoing_request_id,
)


@pytest.mark.parametrize("given", ["trace-123", "a.B_9-z", "x" * 64])
def test_a_sane_callers_request_id_is_kept(given):
    assert accepted_request_id(given) == given


@pytest.mark.parametrize(
    "given", [None, "", "x" * 65, "two words", 'quote"', "line\nbreak", "é", "a/b"]
)
def test_any_other_request_id_is_replaced_by_a_new_one(given):
    made = accepted_request_id(given)
    assert made != given
    assert len(made) == 16 and int(made, 16) >= 0
    assert accepted_request_id(given) != made


def _line(record: logging.LogRecord) -> dict[str, object]:
    RequestIdFilter().filter(record)
    line = json.loads(JsonLines().format(record))
    assert isinstance(line, dict)
    return line


def _record(name: str, message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    record.created = 1764088398.5
    return record


def test_a_line_is_one_json_object_with_time_level_logger_message_and_fields_present():
    token = REQUEST_ID.set("trace-123")
    try:
        line = _line(_record("pamnode.jobs", "job %s ended: %s", "J1", "failed", job_id="J1"))
    finally:
        REQUEST_ID.reset(token)
    assert line == {
        "time": "2025-11-25T16:33:18.500Z",
        "level": "INFO",
        "logger": "pamnode.jobs",
        "message": "job J1 ended: failed",
        "request_id": "trace-123",
        "job_id": "J1",
    }


def test_fields_outside_the_list_never_reach_a_line():
    line = _line(_record("pamnode", "hello", password="hunter2", color_message="x"))
    assert "hunter2" not in json.dumps(line)
    assert set(line) == {"time", "level", "logger", "message"}


def test_an_access_line_carries_method_path_and_status():
    args = ("127.0.0.1:5000", "POST", "/ztna/acme/root/api/peer/jobs/batch", "1.1", 202)
    line = _line(_record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', *args))
    assert (
        line["message"]
        == '127.0.0.1:5000 - "POST /ztna/acme/root/api/peer/jobs/batch HTTP/1.1" 202'
    )
    assert (line["method"], line["path"], line["status"]) == ("POST", args[2], 202)


def test_a_failure_carries_its_traceback_in_the_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "pamnode", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = _line(record)
    assert line["level"] == "ERROR"
    assert "RuntimeError: boom" in str(line["exception"])


async def test_a_background_task_started_in_a_request_does_not_carry_its_id():
    async def seen() -> str | None:
        return REQUEST_ID.get()

    token = REQUEST_ID.set("trace-123")
    try:
        assert await asyncio.create_task(seen()) == "trace-123"
        assert await background_task(seen(), "writer") is None
        assert outgoing_request_id() == "trace-123"
    finally:
        REQUEST_ID.reset(token)
    assert outgoing_request_id() != outgoing_request_id()


# What a library does to stderr once serve has set the log's format: a warning, and a line
# logged by a logger that is none of pamnode's or the server's.
_LIBRARY = """
import logging, sys, warnings
from pamnode.app.logs import start_logging
from pamnode.app.settings import LogFormat

start_logging(LogFormat(sys.argv[1]))
warnings.warn("old call", UserWarning)
logging.getLogger("somelib").warning("somelib is unhappy")
"""


def _library_output(log_format: LogFormat) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _LIBRARY, log_format.value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if line]


def test_in_json_a_librarys_warning_and_its_lines_are_json_lines():
    lines = [json.loads(line) for line in _library_output(LogFormat.JSON)]
    assert [(line["level"], line["logger"]) for line in lines] == [
        ("WARNING", "py.warnings"),
        ("WARNING", "somelib"),
    ]
    assert "UserWarning: old call" in lines[0]["message"]
    assert lines[1]["message"] == "somelib is unhappy"


def test_in_text_a_librarys_warning_and_its_lines_read_as_pamnodes_own():
    warned, logged = _library_output(LogFormat.TEXT)
    assert warned.startswith("WARNING   ") and warned.endswith("UserWarning: old call")
    assert logged == "WARNING   somelib is unhappy"
