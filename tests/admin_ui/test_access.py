"""Signing in to the console: the admin token works and stays out of URLs; a wrong or an annotator's token is
refused with the server's reason; names with markup are shown as text."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.helpers.collector import unique
from tests.helpers.console import open_tab, sign_in

XSS_NAME = '<img src=x onerror="window.__pwned=1">'


def test_wrong_token_is_refused_clearly_and_not_kept(page: Page, collector_url: str) -> None:
    page.goto(f"{collector_url}/admin")
    page.locator("#token-input").fill("not-the-token")
    page.locator("#signin-button").click()
    expect(page.locator("#signin-error")).to_have_text(
        "The collector refused this token: missing or invalid bearer token."
    )
    expect(page.locator("#tabs")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_annotator_token_is_not_the_admin_token(page: Page, collector_url: str, admin: httpx.Client) -> None:
    created = admin.post("/api/v1/annotators", json={"name": unique("ann")}).raise_for_status().json()
    page.goto(f"{collector_url}/admin")
    page.locator("#token-input").fill(created["token"])
    page.locator("#signin-button").click()
    expect(page.locator("#signin-error")).to_contain_text("This is not the admin token:")
    expect(page.locator("#tabs")).to_be_hidden()


def test_admin_token_stays_in_the_tab_and_off_the_wire_but_in_headers(
    page: Page, collector_url: str, admin_token: str
) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    sign_in(page, collector_url, admin_token)
    expect(page.locator("#datasets-table")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('rlhf.admin.token')") == admin_token
    assert page.evaluate("localStorage.length") == 0
    assert urls and not [url for url in urls if admin_token in url]
    page.reload()  # same tab: still signed in
    expect(page.locator("#tabs")).to_be_visible()
    page.locator("#sign-out").click()
    expect(page.locator("#view-signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_dataset_named_with_markup_renders_as_text(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client
) -> None:
    name = f"{XSS_NAME} {unique('x')}"
    created = admin.post(
        "/api/v1/datasets", json={"name": name, "guidelines": "<script>window.__pwned=2</script>"}
    )
    dataset_id = created.raise_for_status().json()["id"]
    annotator = {"name": XSS_NAME + unique(""), "datasets": [dataset_id]}
    admin.post("/api/v1/annotators", json=annotator).raise_for_status()

    sign_in(page, collector_url, admin_token)
    link = page.locator("#datasets-table button", has_text=name)
    expect(link).to_have_text(name)
    link.click()
    expect(page.locator("#dataset-title")).to_contain_text(name)
    page.locator("#dataset-settings summary").click()
    expect(page.locator("#ds-guidelines")).to_have_value("<script>window.__pwned=2</script>")
    open_tab(page, "annotators")
    expect(page.locator("#annotators-table")).to_contain_text(XSS_NAME)
    expect(page.locator("#ac-datasets")).to_contain_text(name)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0 and page.locator("#main script").count() == 0
