"""`GET /metrics` in Prometheus's text format, outside any tenant (like `/healthz`); who may
read it is `app/metrics.admit_scraper`'s rule (docs/metrics.md)."""

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from pamnode.app.metrics import admit_scraper, scrape
from pamnode.http.deps import NodeDep, client_address
from pamnode.identity.auth import bearer_token

router = APIRouter(tags=["node"])


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request, node: NodeDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    admit_scraper(node.settings, client_address(request), bearer_token(authorization))
    # The classic text format, which every Prometheus reads (the series' names need none of
    # the newer format's escaping).
    return Response(await scrape(node), media_type=CONTENT_TYPE_PLAIN_0_0_4)
