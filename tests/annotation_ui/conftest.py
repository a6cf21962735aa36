"""The web form in a real headless Chromium (Debian's, since no browser download works here) against the real
collector: annotators and datasets are created through the admin API, votes read back through the export."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.helpers.collector import unique
from tests.helpers.web_form import Annotator, CreatedDataset

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Package scope: Playwright's sync API keeps an event loop running in this thread until it stops, and
# tests elsewhere in the session call asyncio.run(), which refuses to start under a running loop.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Debian's chromium is needed for the web form tests: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile per test; an uncaught script error anywhere fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"script errors on the page: {errors}"


@pytest.fixture
def make_annotator(admin: httpx.Client) -> Callable[[], Annotator]:
    def make() -> Annotator:
        created = (
            admin.post("/api/v1/annotators", json={"name": unique("Annotator")}).raise_for_status().json()
        )
        return Annotator(id=created["id"], name=created["name"], token=created["token"])

    return make


@pytest.fixture
def make_dataset(admin: httpx.Client) -> Callable[..., CreatedDataset]:
    def make(
        items: list[dict[str, str]], *, guidelines: str = "Prefer the more helpful response."
    ) -> CreatedDataset:
        body = {"name": unique("ui"), "guidelines": guidelines}
        dataset = admin.post("/api/v1/datasets", json=body).raise_for_status().json()
        answer = admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": items})
        return CreatedDataset(
            id=dataset["id"], name=dataset["name"], comparison_ids=answer.raise_for_status().json()["ids"]
        )

    return make


@pytest.fixture
def export_raw(admin: httpx.Client) -> Callable[[int], list[dict[str, Any]]]:
    """Every stored vote of a dataset, as the raw export gives them."""

    def read(dataset_id: int) -> list[dict[str, Any]]:
        answer = admin.get(
            f"/api/v1/datasets/{dataset_id}/export", params={"format": "raw"}
        ).raise_for_status()
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]

    return read
