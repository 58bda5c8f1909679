"""`serve`'s log lines on stderr, pamnode's, the server's (access lines included), any other
library's and Python's warnings: today's text, or one JSON object a line for log collectors
(`--log-format json`)."""

import copy
import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from pamnode.app.settings import LogFormat
from pamnode.core.request_id import RequestIdFilter

# What a line may carry beside its message, written when present: the request id, and what
# code logging a line gives with `extra=`. A closed list, so nothing else (never a secret, never
# a body) reaches a line by accident.
FIELDS = ("request_id", "job_id", "peer", "peer_request_id", "state")
# The server's access line is logged with these arguments, in this order.
ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
ACCESS_LOGGER = "uvicorn.access"


class JsonLines(logging.Formatter):
    """time (ISO 8601, UTC), level, logger, message, then the fields present."""

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, Any] = {
            "time": time.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple):
            line.update(zip(ACCESS_FIELDS, record.args, strict=False))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def start_logging(log_format: LogFormat) -> None:
    """Lines in this format from here on, Python's warnings among them: called before the
    application's modules are imported, so that what their import warns is a line too."""
    logging.config.dictConfig(log_config(log_format))
    logging.captureWarnings(True)


def log_config(log_format: LogFormat) -> dict[str, Any]:
    """The logging configuration `uvicorn.run` applies (its `log_config`), pamnode's loggers
    included."""
    if log_format is LogFormat.JSON:
        return {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"request_id": {"()": RequestIdFilter}},
            "formatters": {"json": {"()": JsonLines}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "formatter": "json",
                    "filters": ["request_id"],
                }
            },
            # One handler, the root's: pamnode's and the server's lines from INFO, any other
            # library's (asyncio, asyncssh, warnings) from WARNING, all as JSON.
            "loggers": {
                name: {"level": "INFO", "handlers": [], "propagate": True}
                for name in ("pamnode", "uvicorn", ACCESS_LOGGER)
            },
            "root": {"level": "WARNING", "handlers": ["stderr"]},
        }
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["pamnode"] = {"format": "%(levelname)-9s %(message)s"}
    config["handlers"]["pamnode"] = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "pamnode",
    }
    config["loggers"]["pamnode"] = {"handlers": ["pamnode"], "level": "INFO", "propagate": False}
    # Any other library's lines and the warnings (logger py.warnings) in pamnode's format, not
    # bare on stderr through logging's last resort.
    config["root"] = {"level": "WARNING", "handlers": ["pamnode"]}
    return config
