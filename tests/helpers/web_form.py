"""Helpers for the web form's browser tests: what the admin API created, and driving the page."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page


@dataclass(frozen=True)
class Annotator:
    id: int
    name: str
    token: str


@dataclass(frozen=True)
class CreatedDataset:
    id: int
    name: str
    comparison_ids: list[int]


def open_form(page: Page, collector_url: str, *, token: str, dataset_id: int) -> None:
    """Open the sign-in link an admin would hand out, and wait for the first comparison."""
    page.goto(f"{collector_url}/annotate?token={token}&dataset={dataset_id}")
    page.locator("#view-work").wait_for(state="visible")


def current_comparison_id(page: Page) -> int:
    return int(page.locator("#comparison-ref").inner_text().lstrip("#"))


def wait_for_next(page: Page, previous_id: int) -> None:
    """Wait until the form shows a comparison other than `previous_id`, or the "all done" state."""
    page.wait_for_function(
        """previous => !document.getElementById("view-done").hidden ||
            (!document.getElementById("view-work").hidden &&
             document.getElementById("item").getAttribute("aria-busy") === "false" &&
             document.getElementById("comparison-ref").textContent !== "#" + previous)""",
        arg=previous_id,
    )
