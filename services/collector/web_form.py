"""The annotation web form: the page at /annotate and its few static files, from the annotation_ui package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

UI_DIR = Path(str(files("annotation_ui")))

# An explicit list rather than a static mount, so nothing else in the package directory is served.
ASSET_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "render.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}

# The page shows untrusted model text. It never parses it as HTML; this policy is the second wall:
# only the page's own scripts run, and nothing leaves for another origin (nor the sign-in token in a Referer).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
ASSET_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/annotate")
def annotate_page() -> FileResponse:
    """The annotation form (sign-in by pasted token or /annotate?token=...)."""
    return FileResponse(UI_DIR / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/annotate/{name}")
def annotate_asset(name: str) -> FileResponse:
    """A script or stylesheet of the annotation form."""
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="not found")
    return FileResponse(UI_DIR / name, media_type=media_type, headers=ASSET_HEADERS)
