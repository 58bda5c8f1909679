"""Console pages of Access (the session viewer), Reports > Sessions and recording playback."""

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from pamnode.core.codes import Code
from pamnode.core.errors import InvalidInput
from pamnode.http.api.sessions import offer_rdp_pass_through
from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.headers import TERMINAL_PLAYER_CSP
from pamnode.http.console.render import Pages, page, redirect, site_base
from pamnode.http.deps import DB, NodeDep
from pamnode.http.downloads import recording_response
from pamnode.http.paging import Offset
from pamnode.sessions import report
from pamnode.sessions.live_shell import watched_notice
from pamnode.sessions.models import Channel
from pamnode.sessions.opening import open_session
from pamnode.sessions.params import RECORDING
from pamnode.sessions.search import MAX_QUERY_CHARS, Found, search_sessions
from pamnode.sessions.states import ENDED, SessionState

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)

PAGE_SIZE = 50
# A start far past any recording's end is refused rather than handed to the player.
MAX_START_S = 10_000_000
Filter = Annotated[str, Query(max_length=400)]
STATES = [("", "any"), *((state.value, state.value) for state in SessionState)]


@router.post("/assets/{asset_id}/access")
async def access(request: Request, asset_id: str, caller: Caller, db: DB) -> Response:
    session = await open_session(db, caller, asset_id)
    return redirect(request, f"{site_base(request)}/sessions/{session.id}/view")


@router.post("/assets/{asset_id}/rdp-proxy")
async def rdp_pass_through(
    request: Request, asset_id: str, caller: Caller, node: NodeDep
) -> Response:
    """The .rdp file of a one-time port, downloaded: the user's RDP client opens it."""
    offer = await offer_rdp_pass_through(request, caller, node, asset_id)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", offer.asset_name) or "session"
    return Response(
        offer.rdp_file,
        media_type="application/x-rdp",
        headers={"Content-Disposition": f'attachment; filename="{name}.rdp"'},
    )


def _utc(field: str, value: str) -> datetime | None:
    """A time the console's form gives (its table's times are UTC), or none."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: not a date and time", code="invalid_input") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/sessions", response_class=HTMLResponse)
async def sessions_page(
    request: Request,
    caller: Caller,
    db: DB,
    state: Filter = "",
    node: Filter = "",
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = "",
    asset: Filter = "",
    user: Filter = "",
    peer: Filter = "",
    since: Filter = "",
    until: Filter = "",
    offset: Offset = 0,
) -> Response:
    """The sessions, filtered; with a search (`q`), the sessions whose text matches."""
    searched = {"q": q, "asset": asset, "user": user, "peer": peer}
    searched |= {"since": since, "until": until}
    if q:
        where = report.SessionFilter(
            asset=asset or None,
            user=user or None,
            peer=peer or None,
            since=_utc("since", since),
            until=_utc("until", until),
        )
        errors: dict[str, str] = {}
        try:
            found = await search_sessions(db, caller, q, where, PAGE_SIZE, offset)
        except InvalidInput as exc:
            # A query without a word: said next to the box, the form kept as typed.
            errors[Code.field_of(exc.code) or "q"] = exc.message
            found = Found([], 0)
        return page(
            request,
            "sessions/list.html",
            caller,
            title="Sessions",
            hits=found.hits,
            searched=searched,
            errors=errors,
            values={},
            pages=Pages(offset, PAGE_SIZE, found.total, searched),
            states=STATES,
        )
    listed = report.SessionFilter(state=state or None, node=node or None)
    rows = await report.list_sessions(db, caller, listed, PAGE_SIZE, offset)
    values = {"state": state, "node": node}
    return page(
        request,
        "sessions/list.html",
        caller,
        title="Sessions",
        sessions=rows.rows,
        searched=searched,
        errors={},
        values=values,
        pages=Pages(offset, PAGE_SIZE, rows.total, values),
        states=STATES,
    )


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(request: Request, session_id: str, caller: Caller, db: DB) -> Response:
    session = await report.get_session(db, caller, session_id)
    may_terminate = session.state not in ENDED and report.may_terminate(caller, session)
    return page(
        request,
        "sessions/details.html",
        caller,
        title="Session details",
        session=session,
        may_terminate=may_terminate,
        may_watch=report.may_watch(caller, session),
    )


@router.get("/sessions/{session_id}/view", response_class=HTMLResponse)
async def session_view(request: Request, session_id: str, caller: Caller, db: DB) -> Response:
    """The remote screen: guacamole-common-js over this session's WebSocket tunnel."""
    session = await report.get_session(db, caller, session_id)
    return page(request, "sessions/view.html", caller, title=session.asset_name, session=session)


@router.get("/sessions/{session_id}/monitor", response_class=HTMLResponse)
async def session_monitor(request: Request, session_id: str, caller: Caller, db: DB) -> Response:
    """Monitor: the session live, read-only, with Terminate (sessions/monitor.py); an SSH-proxy
    shell as its live typescript in the terminal player (sessions/shell_monitor.py)."""
    session = await report.get_session(db, caller, session_id)
    shell = session.channel == Channel.SSHP_SHELL
    answer = page(
        request,
        "sessions/monitor_shell.html" if shell else "sessions/view.html",
        caller,
        title=f"Monitor {session.asset_name}",
        session=session,
        watching=True,
        may_terminate=report.may_terminate(caller, session),
    )
    if shell:
        answer.headers["Content-Security-Policy"] = TERMINAL_PLAYER_CSP
    return answer


@router.get("/sessions/{session_id}/watchers")
async def session_watchers(session_id: str, caller: Caller, db: DB) -> dict[str, object]:
    """Who watches the session now, and what its page tells its owner (the words an SSH-proxy
    shell's owner reads on their terminal)."""
    session = await report.get_session(db, caller, session_id)
    return {"watching": session.watching, "notice": watched_notice(session.watching)}


@router.get("/sessions/{session_id}/play", response_class=HTMLResponse)
async def session_play(request: Request, session_id: str, caller: Caller, db: DB) -> Response:
    session = await report.get_session(db, caller, session_id)
    return page(request, "sessions/play.html", caller, title="Recording", session=session)


@router.get("/sessions/{session_id}/replay", response_class=HTMLResponse)
async def session_replay(
    request: Request,
    session_id: str,
    caller: Caller,
    db: DB,
    t: Annotated[float, Query(ge=0, le=MAX_START_S)] = 0.0,
) -> Response:
    """A shell's asciicast in the vendored asciinema-player: pause, seek, speed; from `t`
    seconds in (where a search found something)."""
    session = await report.get_session(db, caller, session_id)
    answer = page(
        request, "sessions/replay.html", caller, title="Terminal", session=session, start=t
    )
    answer.headers["Content-Security-Policy"] = TERMINAL_PLAYER_CSP
    return answer


@router.get("/sessions/{session_id}/recording", response_class=FileResponse)
async def session_recording(
    session_id: str, caller: Caller, db: DB, node: NodeDep, kind: Filter = RECORDING
) -> FileResponse:
    path = await report.recording_file(db, node.remote_sessions, caller, session_id, kind)
    return recording_response(path, session_id, kind)


@router.post("/sessions/{session_id}/terminate")
async def terminate(
    request: Request, session_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    await report.terminate(db, node.remote_sessions, caller, session_id)
    return redirect(request, f"{site_base(request)}/sessions/{session_id}")
