"""A new annotator at work in the web form, in headless Chromium against the real collector."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Page, Route, expect

from tests.helpers.web_form import (
    Annotator,
    CreatedDataset,
    current_comparison_id,
    open_form,
    wait_for_next,
)

XSS_PAYLOADS = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=1</script>",
    "[click me](javascript:window.__pwned=1)",
    '<a href="javascript:window.__pwned=1">click me</a>',
    '<svg onload="window.__pwned=1"></svg>',
    '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
]


def items(n: int, tag: str) -> list[dict[str, str]]:
    return [
        {
            "prompt": f"{tag} prompt {i}: explain recursion",
            "response_a": f"{tag} answer A{i}\n  kept indent\n\n```python\ndef f(n):\n    return n\n```",
            "response_b": f"{tag} answer B{i}",
        }
        for i in range(n)
    ]


def shown_left(page: Page) -> str:
    """Which stored response ("a" or "b") the form put on the left, read from what is on screen."""
    left = page.locator("#left-text").inner_text()
    return "a" if "answer A" in left else "b"


def votes_by_comparison(rows: list[dict[str, Any]], annotator: Annotator) -> dict[int, dict[str, Any]]:
    mine = [row for row in rows if row["annotator_id"] == annotator.id]
    assert len(mine) == len({row["comparison_id"] for row in mine}), "a comparison was recorded twice"
    return {row["comparison_id"]: row for row in mine}


def test_new_annotator_judges_five_with_keyboard_and_export_matches(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
    export_raw: Callable[[int], list[dict[str, Any]]],
) -> None:
    annotator = make_annotator()
    dataset = make_dataset(items(5, "kb"))
    clock_started_by = time.monotonic()  # the form's clock for an item starts after this
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    assert "token" not in page.url
    expect(page.locator("#progress-text")).to_have_text("0 done · 5 remaining")

    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()

    # (keys, what left/right mean in the API, expected stored fields). "1" is "left is better".
    plan: list[dict[str, Any]] = [
        {"keys": ["1"], "pick": "left"},
        {
            "keys": ["2", "Shift+3", "r"],
            "pick": "right",
            "strength": 3,
            "rationale": "2 adds 3 facts; s is wrong",
        },
        {"keys": ["3"], "pick": "tie"},
        {"keys": ["4"], "pick": "both_bad"},
        {"keys": ["s"], "pick": "skip"},
    ]
    done: dict[int, dict[str, Any]] = {}
    for step in plan:
        comparison_id = current_comparison_id(page)
        left = shown_left(page)
        page.wait_for_timeout(400)  # some reading time, to be found in time_spent_ms
        for key in step["keys"]:
            page.keyboard.press(key)
        if "rationale" in step:
            expect(page.locator("#rationale")).to_be_focused()
            # Shortcut keys typed in the rationale are text, not judgements.
            page.keyboard.type(step["rationale"])
            expect(page.locator('button[data-choice="right"]')).to_have_attribute("aria-pressed", "true")
        submitted_at = time.monotonic()
        page.keyboard.press("Enter")
        upper_ms = (time.monotonic() - clock_started_by) * 1000
        clock_started_by = submitted_at
        done[comparison_id] = step | {"left": left, "upper_ms": upper_ms}
        wait_for_next(page, comparison_id)
        if len(done) < len(plan):
            expect(page.locator("#toast")).to_contain_text("Saved")

    expect(page.locator("#view-done")).to_be_visible()
    expect(page.locator("#done-heading")).to_have_text("All done")
    expect(page.locator("#progress-text")).to_have_text("5 done · 0 remaining")

    stored = votes_by_comparison(export_raw(dataset.id), annotator)
    assert set(stored) == set(done) == set(dataset.comparison_ids)
    for comparison_id, step in done.items():
        vote = stored[comparison_id]
        right = "b" if step["left"] == "a" else "a"
        expected_choice = {
            "left": step["left"],
            "right": right,
            "tie": "tie",
            "both_bad": "tie",
            "skip": "skip",
        }
        assert vote["choice"] == expected_choice[step["pick"]], step
        assert vote["shown_left"] == step["left"]
        assert vote["both_bad"] is (step["pick"] == "both_bad")
        assert vote["strength"] == step.get("strength")
        assert vote["rationale"] == step.get("rationale")
        assert 400 <= vote["time_spent_ms"] <= step["upper_ms"], (vote["time_spent_ms"], step["upper_ms"])


def test_untrusted_text_renders_as_text_and_runs_nothing(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    payload = "\n".join(XSS_PAYLOADS)
    hostile = [{"prompt": f"P {payload}", "response_a": f"A {payload}", "response_b": f"B {payload}"}] * 2
    dataset = make_dataset(hostile, guidelines=f"G {payload}")
    annotator = make_annotator()
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)

    for region in ("#guidelines-text", "#prompt-text", "#left-text", "#right-text"):
        text = page.locator(region).inner_text()
        for line in XSS_PAYLOADS:
            assert line in text, (region, line)
        assert page.locator(f"{region} :is(img, script, a, svg, iframe)").count() == 0
    page.locator("#left-text").click()  # a click on the text follows nothing
    first = current_comparison_id(page)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    wait_for_next(page, first)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None


def test_bidi_controls_are_shown_as_marked_tokens_and_reorder_nothing(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    # "Trojan Source": U+202E would show "safe" (stored "efas" after it) and reverse the rest of the line.
    hidden = "Answer: \u202eefas\u202c. Also \u2067isolated\u2069 and `co\u202ede`"
    dataset = make_dataset(
        [{"prompt": f"P {hidden}", "response_a": f"A {hidden}", "response_b": f"B {hidden}"}]
    )
    open_form(page, collector_url, token=make_annotator().token, dataset_id=dataset.id)

    for region in ("#prompt-text", "#left-text", "#right-text"):
        text = page.locator(region).inner_text()
        assert not any(0x202A <= ord(ch) <= 0x202E or 0x2066 <= ord(ch) <= 0x206F for ch in text), region
        assert "⟨U+202E⟩efas⟨U+202C⟩" in text and "⟨U+2067⟩isolated⟨U+2069⟩" in text, text
        marks = page.locator(f"{region} .bidi-control")
        expect(marks).to_have_count(5)
        expect(marks.first).to_have_attribute("title", re.compile("right-to-left override"))
    # What is stored after the mark reads left to right, as stored: "e" is drawn left of "s".
    order = page.evaluate(
        """() => {
            const node = [...document.querySelectorAll("#prompt-text .prose")].flatMap((p) => [...p.childNodes])
                .find((n) => n.nodeType === Node.TEXT_NODE && n.textContent.startsWith("efas"));
            const at = (i) => { const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
                                return r.getBoundingClientRect().left; };
            return [at(0), at(3)];
        }"""
    )
    assert order[0] < order[1]


def test_code_blocks_are_monospace_and_whitespace_is_kept(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    long_line = "word " * 3000
    dataset = make_dataset(
        [
            {
                "prompt": "p",
                "response_a": f"answer A\n  kept indent\n\n```python\ndef f(n):\n    return n\n```\n{long_line}",
                "response_b": f"answer B\n{long_line}",
            }
        ]
    )
    annotator = make_annotator()
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    panel = page.locator("#left-text" if shown_left(page) == "a" else "#right-text")
    code = panel.locator(".code-block pre code")
    expect(code).to_have_text("def f(n):\n    return n")
    assert "mono" in code.evaluate("e => getComputedStyle(e).fontFamily").lower()
    assert "\n  kept indent" in panel.inner_text()
    # Long text scrolls inside its panel; the page itself stays one screen high.
    assert panel.evaluate("e => e.scrollHeight > e.clientHeight + 100")
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 2")


def test_responses_side_by_side_when_wide_and_stacked_when_narrow(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    dataset = make_dataset(items(1, "layout"))
    open_form(page, collector_url, token=make_annotator().token, dataset_id=dataset.id)
    left, right = page.locator("#panel-left"), page.locator("#panel-right")
    wide_left, wide_right = left.bounding_box(), right.bounding_box()
    assert wide_left and wide_right and wide_left["y"] == wide_right["y"] and wide_left["x"] < wide_right["x"]
    page.set_viewport_size({"width": 420, "height": 860})
    narrow_left, narrow_right = left.bounding_box(), right.bounding_box()
    assert narrow_left and narrow_right and narrow_left["x"] == narrow_right["x"]
    assert narrow_right["y"] >= narrow_left["y"] + narrow_left["height"]


def test_reload_keeps_the_comparison_its_sides_and_progress(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    dataset = make_dataset(items(3, "reload"))
    open_form(page, collector_url, token=make_annotator().token, dataset_id=dataset.id)
    first = current_comparison_id(page)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_for_next(page, first)
    current, left_text = current_comparison_id(page), page.locator("#left-text").inner_text()
    expect(page.locator("#progress-text")).to_have_text("1 done · 2 remaining")

    page.reload()  # the token is gone from the address bar: the stored sign-in is used
    page.locator("#view-work").wait_for(state="visible")
    assert current_comparison_id(page) == current
    assert page.locator("#left-text").inner_text() == left_text
    expect(page.locator("#progress-text")).to_have_text("1 done · 2 remaining")


def test_all_done_state_when_nothing_is_left(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    dataset = make_dataset(items(1, "done"))
    annotator = make_annotator()
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    page.get_by_role("button", name="Tie").click()  # the mouse works too
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#view-done")).to_be_visible()
    expect(page.locator("#done-text")).to_contain_text(dataset.name)
    expect(page.get_by_role("button", name="Sign out")).to_be_enabled()
    page.get_by_role("button", name="Check for new comparisons").click()
    expect(page.locator("#view-done")).to_be_visible()


def test_submit_failing_once_is_retried_with_same_key_and_stored_once(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
    export_raw: Callable[[int], list[dict[str, Any]]],
) -> None:
    dataset = make_dataset(items(2, "retry"))
    annotator = make_annotator()
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    keys: list[str] = []

    def fail_first(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/comparisons/*/preferences", fail_first)
    first = current_comparison_id(page)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#retry-banner")).to_be_visible()
    expect(page.locator("#retry-text")).to_contain_text("Retrying your judgement")
    wait_for_next(page, first)
    expect(page.locator("#retry-banner")).to_be_hidden()

    assert len(keys) == 2 and keys[0] == keys[1]
    stored = votes_by_comparison(export_raw(dataset.id), annotator)
    assert list(stored) == [first]


def test_answer_lost_after_storing_is_retried_and_stored_once(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
    export_raw: Callable[[int], list[dict[str, Any]]],
) -> None:
    """The hard case: the server stored the vote but the answer never arrived. The retry must not store it again."""
    dataset = make_dataset(items(2, "lost"))
    annotator = make_annotator()
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    statuses: list[int] = []

    def lose_first_answer(route: Route) -> None:
        answer = route.fetch()
        statuses.append(answer.status)
        if len(statuses) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=answer)

    page.route("**/api/v1/comparisons/*/preferences", lose_first_answer)
    first = current_comparison_id(page)
    page.keyboard.press("2")
    page.keyboard.press("Shift+1")
    page.keyboard.press("Enter")
    wait_for_next(page, first)
    expect(page.locator("#toast")).to_contain_text("Saved")

    assert statuses == [201, 201]  # the second answer is the first one, replayed
    stored = votes_by_comparison(export_raw(dataset.id), annotator)
    assert list(stored) == [first] and stored[first]["strength"] == 1


def test_judgement_unsent_at_reload_is_sent_after_it_with_same_key(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
    export_raw: Callable[[int], list[dict[str, Any]]],
) -> None:
    dataset = make_dataset(items(2, "unsent"))
    annotator = make_annotator()
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    keys: list[str] = []

    def network_down(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        route.abort("internetdisconnected")

    page.route("**/api/v1/comparisons/*/preferences", network_down)
    first = current_comparison_id(page)
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    expect(page.locator("#retry-banner")).to_be_visible()
    expect(page.locator('button[data-choice="tie"]')).to_be_disabled()  # no second judgement meanwhile

    def record_key(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        route.continue_()

    page.unroute("**/api/v1/comparisons/*/preferences")
    page.route("**/api/v1/comparisons/*/preferences", record_key)
    page.reload()
    page.locator("#view-work").wait_for(state="visible")
    assert current_comparison_id(page) != first
    expect(page.locator("#toast")).to_contain_text("Saved: Both bad")

    assert len(set(keys)) == 1 and len(keys) >= 2
    stored = votes_by_comparison(export_raw(dataset.id), annotator)
    assert list(stored) == [first] and stored[first]["both_bad"] is True


def test_vote_refused_with_conflict_shows_message_and_moves_on(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
    export_raw: Callable[[int], list[dict[str, Any]]],
) -> None:
    dataset = make_dataset(items(2, "conflict"))
    annotator = make_annotator()
    open_form(page, collector_url, token=annotator.token, dataset_id=dataset.id)
    first = current_comparison_id(page)
    # The same annotator judges it elsewhere (another tab) first: the form's vote now conflicts.
    with httpx.Client(
        base_url=collector_url, headers={"Authorization": f"Bearer {annotator.token}"}
    ) as other_tab:
        other_tab.post(f"/api/v1/comparisons/{first}/preferences", json={"choice": "tie"}).raise_for_status()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    wait_for_next(page, first)
    expect(page.locator("#notice-text")).to_contain_text("Not recorded")
    assert current_comparison_id(page) != first
    assert votes_by_comparison(export_raw(dataset.id), annotator)[first]["choice"] == "tie"


def test_sign_in_with_bad_then_pasted_token_choose_dataset_and_sign_out(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    make_dataset(items(1, "other"))  # so that there is a choice to make
    dataset = make_dataset(items(1, "signin"))
    annotator = make_annotator()

    page.goto(f"{collector_url}/annotate?token=not-a-real-token")
    expect(page.locator("#signin-error")).to_contain_text("not accepted")
    assert "token" not in page.url
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0

    page.get_by_label("Annotator token").fill(annotator.token)
    expect(page.locator("#remember")).not_to_be_checked()
    page.keyboard.press("Enter")
    expect(page.locator("#view-datasets")).to_be_visible()
    expect(page.locator("#annotator-name")).to_have_text(annotator.name)
    page.get_by_role("button", name=dataset.name).click()
    expect(page.locator("#view-work")).to_be_visible()
    expect(page.locator("#dataset-name")).to_have_text(dataset.name)
    expect(page.locator("#guidelines")).to_have_attribute("open", "")
    assert page.evaluate("sessionStorage.getItem('rlhf.annotate.token')") == annotator.token
    assert page.evaluate("localStorage.getItem('rlhf.annotate.token')") is None

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#view-signin")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('rlhf.annotate.token')") is None
    page.reload()
    expect(page.locator("#view-signin")).to_be_visible()


def test_sign_out_while_retrying_stops_the_retries(
    page: Page,
    collector_url: str,
    make_annotator: Callable[[], Annotator],
    make_dataset: Callable[..., CreatedDataset],
) -> None:
    dataset = make_dataset(items(1, "stop"))
    annotator = make_annotator()
    attempts: list[str] = []

    def network_down(route: Route) -> None:
        attempts.append(route.request.url)
        route.abort("internetdisconnected")

    page.route("**/api/v1/datasets/*/next", network_down)
    page.goto(f"{collector_url}/annotate?token={annotator.token}&dataset={dataset.id}")
    expect(page.locator("#retry-text")).to_contain_text("Retrying loading the next comparison")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#view-signin")).to_be_visible()
    expect(page.locator("#retry-banner")).to_be_hidden()
    seen = len(attempts)
    page.wait_for_timeout(2500)  # longer than the next backoff step
    assert len(attempts) == seen
    expect(page.locator("#retry-banner")).to_be_hidden()
