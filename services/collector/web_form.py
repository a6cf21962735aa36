"""The annotation web form: the page at /annotate (sign-in by pasted token or /annotate?token=...) and its few
static files, from the annotation_ui package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from services.collector.static_pages import PAGE_HEADERS, page_router

UI_DIR = Path(str(files("annotation_ui")))

router = page_router("/annotate", UI_DIR, ("app.js", "api.js", "render.js", "app.css"), PAGE_HEADERS)
