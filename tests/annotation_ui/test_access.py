"""Where the form keeps the token, and what it tells an annotator whose access ended or whose datasets changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.annotation_ui.test_annotate import items
from tests.helpers.collector import unique
from tests.helpers.web_form import Annotator, CreatedDataset, current_comparison_id, open_form

TOKEN_KEY = "rlhf.annotate.token"


def stored_token(page: Page) -> dict[str, Any]:
    return page.evaluate(
        f"({{local: localStorage.getItem('{TOKEN_KEY}'), session: sessionStorage.getItem('{TOKEN_KEY}')}})"
    )


def test_sign_in_link_keeps_the_token_for_this_tab_unless_remembered(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    annotator = make_annotator()
    dataset = make_dataset(items(2, "storage"))
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    assert stored_token(page) == {"local": None, "session": annotator.token}
    remember = page.locator("#remember-device")  # in the top bar
    expect(remember).not_to_be_checked()

    remember.check()
    assert stored_token(page) == {"local": annotator.token, "session": None}
    page.reload()
    page.locator("#view-work").wait_for(state="visible")
    expect(remember).to_be_checked()

    remember.uncheck()
    assert stored_token(page) == {"local": None, "session": annotator.token}


def test_pasted_token_is_remembered_only_when_ticked(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    annotator = make_annotator()
    make_dataset(items(1, "paste"))
    page.goto(f"{collector_url}/annotate")
    page.get_by_label("Annotator token").fill(annotator.token)
    page.locator("#remember").check()
    page.keyboard.press("Enter")
    expect(page.locator("#annotator-name")).to_have_text(annotator.name)
    assert stored_token(page) == {"local": annotator.token, "session": None}


def test_revoked_token_signs_out_with_a_message_saying_so(
    page: Page,
    collector_url: str,
    admin: httpx.Client,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    annotator = make_annotator()
    dataset = make_dataset(items(2, "revoked"))
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    admin.post(f"/api/v1/annotators/{annotator.id}/revoke").raise_for_status()

    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#view-signin")).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text("Your access has ended")
    expect(page.locator("#signin-error")).to_contain_text("revoked")
    assert stored_token(page) == {"local": None, "session": None}

    # The link again: refused with the same explanation, not "check that you pasted all of it".
    page.goto(f"{collector_url}/annotate?token={annotator.token}&dataset={dataset.id}")
    expect(page.locator("#signin-error")).to_contain_text("revoked")
    expect(page.locator("#signin-error")).to_contain_text("new sign-in link")


def test_expired_saved_sign_in_says_it_expired(
    page: Page,
    collector_url: str,
    admin: httpx.Client,
    make_dataset: Callable[..., CreatedDataset],
    db: Session,
) -> None:
    dataset = make_dataset(items(1, "expired"))
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = admin.post("/api/v1/annotators", json={"name": "temp", "expires_at": soon}).json()
    open_form(page, collector_url, token=created["token"], dataset_id=dataset.id)
    db.execute(text("UPDATE annotator SET expires_at = now() WHERE id = :id"), {"id": created["id"]})
    db.commit()
    page.reload()
    expect(page.locator("#signin-error")).to_contain_text("expired")


def test_dataset_taken_away_mid_work_goes_back_to_the_list_with_a_message(
    page: Page,
    collector_url: str,
    admin: httpx.Client,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    annotator = make_annotator()
    first, second = make_dataset(items(2, "first")), make_dataset(items(1, "second"))
    open_form(page, collector_url, token=annotator.token, dataset_id=first.id)
    on_screen = current_comparison_id(page)
    admin.put(
        f"/api/v1/annotators/{annotator.id}/datasets", json={"datasets": [second.id]}
    ).raise_for_status()

    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(page.locator("#view-datasets")).to_be_visible()
    expect(page.locator("#notice-text")).to_contain_text("Not recorded")
    expect(page.locator("#dataset-list li")).to_have_count(1)
    expect(page.locator("#dataset-list")).to_contain_text(second.name)
    assert on_screen in first.comparison_ids


def test_paused_annotator_sees_why(
    page: Page, collector_url: str, admin: httpx.Client, make_annotator: Callable[[], Annotator]
) -> None:
    annotator = make_annotator()
    dataset = admin.post("/api/v1/datasets", json={"name": unique("ui-gold"), "gold_rate": 1.0}).json()
    gold = [item | {"gold": "a"} for item in items(10, "gold")]
    url = f"/api/v1/datasets/{dataset['id']}/comparisons"
    admin.post(url, json={"items": items(2, "work") + gold}).raise_for_status()
    # Every gold answer wrong, through the API with the annotator's token: paused after the tenth.
    with httpx.Client(
        base_url=collector_url, headers={"Authorization": f"Bearer {annotator.token}"}
    ) as client:
        while (answer := client.get(f"/api/v1/datasets/{dataset['id']}/next")).status_code == 200:
            comparison_id = answer.json()["comparison_id"]
            client.post(
                f"/api/v1/comparisons/{comparison_id}/preferences", json={"choice": "b"}
            ).raise_for_status()
        assert answer.status_code == 403

    page.goto(f"{collector_url}/annotate?token={annotator.token}&dataset={dataset['id']}")
    expect(page.locator("#view-datasets")).to_be_visible()
    expect(page.locator("#notice-text")).to_contain_text("paused on dataset")
    expect(page.locator("#notice-text")).to_contain_text("ask the admin to lift the pause")
