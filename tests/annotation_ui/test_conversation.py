"""A conversational prompt in the web form: shown as its messages in order, each labelled with its role, as
text only (markup stays literal, bidi controls are shown and obey nothing)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page

from tests.helpers.collector import unique
from tests.helpers.web_form import Annotator, current_comparison_id, open_form, wait_for_next

HOSTILE = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=1</script>'


def test_multi_turn_prompt_renders_as_a_conversation_of_text(
    page: Page, collector_url: str, admin: httpx.Client, make_annotator: Callable[[], Annotator]
) -> None:
    conversation = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": f"Hi {HOSTILE}"},
        {"role": "assistant", "content": "Hello! \u202eefas\u202c How can I help?"},
        {"role": "user", "content": "What colour is the sky?"},
    ]
    dataset = admin.post("/api/v1/datasets", json={"name": unique("ui-chat")}).raise_for_status().json()
    item = {"prompt": conversation, "response_a": "Blue.", "response_b": "Green."}
    admin.post(f"/api/v1/datasets/{dataset['id']}/comparisons", json={"items": [item]}).raise_for_status()
    annotator = make_annotator()
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset["id"])

    messages = page.locator("#prompt-text ol.conversation > li.message")
    assert messages.count() == 4
    roles = page.locator("#prompt-text .message-role").all_inner_texts()
    assert [role.lower() for role in roles] == ["system", "user", "assistant", "user"]
    assert messages.nth(3).locator(".message-content").inner_text() == "What colour is the sky?"
    last_turn = messages.nth(3).bounding_box()
    panel = page.locator("#prompt-text").bounding_box()
    assert last_turn and panel and last_turn["y"] + last_turn["height"] <= panel["y"] + panel["height"] + 1
    assert HOSTILE in messages.nth(1).inner_text()
    assert page.locator("#prompt-text :is(img, script)").count() == 0
    assistant = messages.nth(2).inner_text()
    assert "⟨U+202E⟩efas⟨U+202C⟩" in assistant and "\u202e" not in assistant
    assert messages.nth(2).locator(".bidi-control").count() == 2

    first = current_comparison_id(page)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    wait_for_next(page, first)
    assert page.evaluate("window.__pwned") is None
