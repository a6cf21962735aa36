"""The operator console: the page at /admin and its static files, from the admin_ui package. It signs in with
the admin token and uses the collector's API like any other client (docs/console.md)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from services.collector.web_form import ASSET_HEADERS, PAGE_HEADERS

UI_DIR = Path(str(files("admin_ui")))

# An explicit list rather than a static mount, so nothing else in the package directory is served.
ASSET_TYPES = {
    "admin.css": "text/css; charset=utf-8",
    "main.js": "text/javascript; charset=utf-8",
    "http.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "datasets.js": "text/javascript; charset=utf-8",
    "annotators.js": "text/javascript; charset=utf-8",
    "jobs.js": "text/javascript; charset=utf-8",
    "param_form.js": "text/javascript; charset=utf-8",
    "models.js": "text/javascript; charset=utf-8",
    "rewards.js": "text/javascript; charset=utf-8",
}

# The form's policy, plus blob: images: training curves are fetched with the token and shown from a blob URL
# (an <img src> cannot send the token).
CONSOLE_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:;", "img-src 'self' data: blob:;"
    ),
}

router = APIRouter(include_in_schema=False)


@router.get("/admin")
def console_page() -> FileResponse:
    """The operator console (sign-in with the admin token)."""
    return FileResponse(UI_DIR / "index.html", media_type="text/html; charset=utf-8", headers=CONSOLE_HEADERS)


@router.get("/admin/{name}")
def console_asset(name: str) -> FileResponse:
    """A script or stylesheet of the console."""
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="not found")
    return FileResponse(UI_DIR / name, media_type=media_type, headers=ASSET_HEADERS)
