"""Driving the operator console (/admin) in the browser tests."""

from __future__ import annotations

from playwright.sync_api import Page


def sign_in(page: Page, collector_url: str, token: str) -> None:
    """Open the console and sign in with `token`; waits until the sections show."""
    page.goto(f"{collector_url}/admin")
    page.locator("#token-input").fill(token)
    page.locator("#signin-button").click()
    page.locator("#tabs").wait_for(state="visible")


def open_tab(page: Page, name: str) -> None:
    page.locator(f".tab[data-tab={name}]").click()
    page.locator(f"#tab-{name}").wait_for(state="visible")
