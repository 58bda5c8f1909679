"""The audit streams this node's settings ask for (audit/stream.py), started while it serves."""

import asyncio
import re
import ssl

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.app.data_dir import DIR_MODE
from pamnode.app.settings import Settings
from pamnode.audit.stream import JsonLinesOutput, Output, SyslogOutput, SyslogTarget, follow


def outputs(settings: Settings) -> list[Output]:
    found: list[Output] = []
    endpoint = settings.audit_syslog_endpoint
    if endpoint is not None:
        host, port = endpoint
        tls = None
        if settings.audit_syslog_tls:
            tls = ssl.create_default_context(cafile=settings.audit_syslog_ca_file)
        state = settings.data_dir / "audit-stream"
        state.mkdir(mode=DIR_MODE, exist_ok=True)
        # A cursor per collector: one named anew receives the whole trail, once.
        cursor = state / f"syslog-{re.sub(r'[^A-Za-z0-9.-]', '_', host)}-{port}.cursor"
        found.append(SyslogOutput(SyslogTarget(host, port, tls, settings.node_name), cursor))
    if settings.audit_json_file is not None:
        found.append(JsonLinesOutput(settings.audit_json_file))
    return found


def start_streams(
    settings: Settings, database: async_sessionmaker[AsyncSession]
) -> list["asyncio.Task[None]"]:
    return [
        asyncio.create_task(follow(database, output), name=f"audit {output.name}")
        for output in outputs(settings)
    ]
