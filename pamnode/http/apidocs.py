"""The API's own documentation: `/openapi.json` with its Bearer security scheme, and `/docs`
(Swagger UI) served from files vendored here, so that it works with no internet access.

The token to paste into Authorize is a login's `token` or an API token of the site the
operation's URL names.
"""

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).parent / "apidocs_static"
ASSETS_URL = "/apidocs-static"
SCHEME = "bearer"
# Operations anyone may call: everything else under a site's API needs the caller's token.
OPEN_PATHS = ("/auth/login",)


def install(app: FastAPI, api_prefix: str) -> None:
    """Serve `/docs` and the vendored files; declare the Bearer scheme on the site API's
    operations. Call with `FastAPI(docs_url=None, redoc_url=None)`."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="apidocs")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_bearer(
                get_openapi(title=app.title, version=app.version, routes=app.routes),
                api_prefix.split("{", 1)[0],
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        )


def _with_bearer(schema: dict[str, Any], api_root: str) -> dict[str, Any]:
    schema.setdefault("components", {})["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "A login's token (POST auth/login) or an API token of the site.",
        }
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(api_root) or path.endswith(OPEN_PATHS):
            continue
        for operation in operations.values():
            operation["security"] = [{SCHEME: []}]
    return schema
