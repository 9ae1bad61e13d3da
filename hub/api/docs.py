"""/docs: the API's interactive description, with every asset served by the hub itself.

Swagger UI comes from the `swagger-ui-bundle` package (its files, pinned with it), under
/docs/assets/; the page and its start-up script are ours, so that the Content-Security-Policy can
allow scripts from the hub's own origin only (`script-src 'self'`, no inline script). A post is
often offline, and a script from a CDN would run on the hub's own origin: neither is acceptable.
The description itself is /openapi.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

router = APIRouter(include_in_schema=False)

ASSETS: Final = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>chuong hub: API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
"""
_START: Final = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null
});
"""


@router.get("/docs")
async def page() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": POLICY})


@router.get("/docs/start.js")
async def start() -> Response:
    return Response(_START, media_type="text/javascript")


@router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"no such asset: {name}")
    return FileResponse(
        Path(str(swagger_ui_path)) / name, headers={"Cache-Control": "max-age=86400"}
    )
