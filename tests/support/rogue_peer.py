"""A peer that answers the peer protocol badly, over real TLS, to test what a main believes.

It serves one site (`/ztna/<tenant>/root/api/peer/...`) with its own self-signed certificate,
so a main pins it like any peer. `mode` says how it misbehaves on the job routes; `requests`
counts what the main asked, by route, and `bearers` keeps every bearer token a main sent.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pamnode.app.tls import ensure_self_signed
from pamnode.lab.ports import free_port

# How each mode answers about a job (the feed, GET peer/jobs/{id}); POST is garbage only in
# "post_garbage".
MODES = ("impatient", "garbage", "missing_fields", "spoofed", "huge", "post_garbage")
HUGE_BYTES = 20 * 1024 * 1024


class RoguePeer:
    def __init__(self, data_dir: Path, tenant: str) -> None:
        self.tenant = tenant
        self.port = free_port()
        self.cert_path, self.key_path = ensure_self_signed(data_dir / "tls", "rogue", "127.0.0.1")
        self.mode = "impatient"
        self.requests: Counter[str] = Counter()
        self.bearers: list[str] = []
        # Every job id a main sent, in the order it came: the feed reports on the last one.
        self.jobs: list[str] = []
        prefix = f"/ztna/{tenant}/root/api/peer"
        app = Starlette(
            routes=[
                Route(f"{prefix}/info", self._info, methods=["GET"]),
                Route(f"{prefix}/jobs/batch", self._submit_batch, methods=["POST"]),
                Route(f"{prefix}/jobs/feed", self._feed, methods=["GET"]),
                Route(f"{prefix}/jobs/cancel", self._cancel_batch, methods=["POST"]),
                Route(f"{prefix}/jobs", self._submit, methods=["POST"]),
                Route(f"{prefix}/jobs/{{job_id}}", self._status, methods=["GET"]),
                Route(f"{prefix}/jobs/{{job_id}}", self._cancel, methods=["DELETE"]),
            ]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            ssl_certfile=str(self.cert_path),
            ssl_keyfile=str(self.key_path),
            log_level="warning",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/ztna/{self.tenant}/root"

    @staticmethod
    def access_token() -> str:
        """Any JWT does: the main only reads its expiry, the rogue never checks it. Each is
        its own (a random `jti`), so a test can tell which token went where."""
        expires = datetime.now(UTC) + timedelta(days=365)
        key = "a rogue key that nobody checks anyway"
        claims = {"sub": "svc", "exp": expires, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, key, algorithm="HS256")

    def __enter__(self) -> RoguePeer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the rogue peer did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        # A main keeps its connections to a peer alive: waiting for them to close would
        # hold every test that ends a rogue for its join's whole timeout.
        self._server.should_exit = self._server.force_exit = True
        self._thread.join(timeout=10)

    def _status_body(self, job_id: str, state: str, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": job_id,
            "state": state,
            "exit_status": None,
            "output": "",
            "facts": {},
            "error": "",
            "error_code": "",
            "started_at": None,
            "finished_at": None,
            "node_signature": None,
            "host_key": None,
        }
        body.update(fields)
        return body

    async def _info(self, request: Request) -> Response:
        self.requests["info"] += 1
        self.bearers.append(request.headers.get("authorization", ""))
        if self.mode == "garbage":
            return PlainTextResponse("<html>not a peer</html>")
        return JSONResponse(
            {
                "node": "rogue",
                "tenant": self.tenant,
                "site": "root",
                "version": "0",
                "time": datetime.now(UTC).isoformat(),
                "capabilities": {"job_runner": True, "gateway": False, "http_proxy": False},
            }
        )

    async def _submit(self, request: Request) -> Response:
        self.requests["submit"] += 1
        job_id = (await request.json())["id"]
        if self.mode == "post_garbage":
            return PlainTextResponse("accepted, probably", status_code=202)
        return JSONResponse(self._status_body(job_id, "queued"), status_code=202)

    async def _submit_batch(self, request: Request) -> Response:
        self.requests["submit"] += 1
        ids = [job["id"] for job in (await request.json())["jobs"]]
        self.jobs.extend(ids)
        if self.mode == "post_garbage":
            return PlainTextResponse("accepted, probably", status_code=202)
        jobs = [self._status_body(job_id, "queued") for job_id in ids]
        return JSONResponse({"jobs": jobs}, status_code=202)

    async def _feed(self, request: Request) -> Response:
        """The last job sent, as the mode says, at once whatever `wait` asks for, with a
        cursor that never moves; `after=now` is answered properly (unless all is garbage)."""
        self.requests["feed"] += 1
        if self.mode == "garbage":
            return PlainTextResponse("<html>oops</html>")
        jobs = [] if request.query_params["after"] == "now" else self.jobs[-1:]
        return JSONResponse(
            {"cursor": "rogue:1", "jobs": [self._about(job_id) for job_id in jobs], "more": False}
        )

    async def _cancel_batch(self, request: Request) -> Response:
        self.requests["cancel"] += 1
        ids = (await request.json())["ids"]
        return JSONResponse({"jobs": [self._status_body(job_id, "cancelled") for job_id in ids]})

    async def _status(self, request: Request) -> Response:
        self.requests["status"] += 1
        if self.mode == "garbage":
            return PlainTextResponse("<html>oops</html>")
        return JSONResponse(self._about(request.path_params["job_id"]))

    def _about(self, job_id: str) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        if self.mode == "missing_fields":
            return {"id": job_id, "state": "succeeded"}
        if self.mode == "spoofed":
            return self._status_body(
                job_id,
                "succeeded",
                exit_status=0,
                started_at=now,
                finished_at=now,
                node_signature="spoofed::acme::root",
            )
        if self.mode == "huge":
            return self._status_body(
                job_id,
                "succeeded",
                exit_status=0,
                output="x" * HUGE_BYTES,
                started_at=now,
                finished_at=now,
                node_signature=f"rogue::{self.tenant}::root",
            )
        # "impatient": running at once, whatever `wait` asks for.
        return self._status_body(job_id, "running", started_at=now)

    async def _cancel(self, request: Request) -> Response:
        self.requests["cancel"] += 1
        job_id = request.path_params["job_id"]
        return JSONResponse(self._status_body(job_id, "cancelled"))
