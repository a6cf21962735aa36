"""The operator console: the page at /admin and its static files, from the admin_ui package. It signs in with
the admin token and uses the collector's API like any other client (docs/console.md)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from services.collector.static_pages import PAGE_HEADERS, page_router

UI_DIR = Path(str(files("admin_ui")))

ASSETS = (
    "admin.css",
    "main.js",
    "http.js",
    "dom.js",
    "datasets.js",
    "annotators.js",
    "jobs.js",
    "param_form.js",
    "models.js",
    "rewards.js",
)

# The form's policy, plus blob: images: training curves are fetched with the token and shown from a blob URL
# (an <img src> cannot send the token).
CONSOLE_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:;", "img-src 'self' data: blob:;"
    ),
}

router = page_router("/admin", UI_DIR, ASSETS, CONSOLE_HEADERS)
