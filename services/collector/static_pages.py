"""One browser page and its static files, served from a package directory: the annotation form (web_form.py)
and the operator console (admin_console.py) are both built with `page_router`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

# The pages show untrusted text (model output, prompts). They never parse it as HTML; this policy is the
# second wall: only the page's own scripts run, and nothing leaves for another origin (nor a token in a Referer).
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


def page_router(path: str, ui_dir: Path, assets: tuple[str, ...], page_headers: dict[str, str]) -> APIRouter:
    """GET `path` answers ui_dir/index.html; GET `path`/NAME answers one of `assets` (an explicit list rather
    than a static mount, so nothing else in the package directory is served); anything else is a 404."""
    router = APIRouter(include_in_schema=False)
    media_types = {name: MEDIA_TYPES[Path(name).suffix] for name in assets}

    @router.get(path)
    def page() -> FileResponse:
        return FileResponse(
            ui_dir / "index.html", media_type="text/html; charset=utf-8", headers=page_headers
        )

    @router.get(path + "/{name}")
    def asset(name: str) -> FileResponse:
        media_type = media_types.get(name)
        if media_type is None:
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(ui_dir / name, media_type=media_type, headers=ASSET_HEADERS)

    return router
