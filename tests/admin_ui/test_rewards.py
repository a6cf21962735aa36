"""The console's Rewards section: a named reward created from the JSON form (the API's refusal shown, nothing
written), listed with its components, then set as a dataset's reward in its settings form."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import Page, expect

from tests.helpers.collector import unique
from tests.helpers.console import open_tab, sign_in
from tests.helpers.jobs import create_dataset


def test_create_a_reward_and_set_it_on_a_dataset(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client
) -> None:
    dataset = create_dataset(admin, 2, with_preferences=False)
    name = unique("console-reward")
    sign_in(page, collector_url, admin_token)
    open_tab(page, "rewards")
    page.locator("#reward-create-box summary").click()
    assert json.loads(page.locator("#rc-body").input_value())["components"][0]["function"] == "rougeL"

    page.locator("#rc-body").fill(json.dumps({"name": name, "components": [{"function": "length"}]}))
    page.locator("#rc-submit").click()
    expect(page.locator("#rc-error")).to_contain_text("the length function needs 'target'")
    assert admin.get("/api/v1/rewards", params={"name": name}).json()["count"] == 0

    body = {
        "name": name,
        "components": [{"function": "rougeL", "weight": 2}, {"function": "length", "target": 5}],
    }
    page.locator("#rc-body").fill(json.dumps(body))
    page.locator("#rc-submit").click()
    row = page.locator(f'#rewards-table tr[data-reward="{name}"]')
    expect(row).to_contain_text("2×rougeL; 1×length(target=5)")
    expect(page.locator("#rc-error")).to_have_text("")
    assert admin.get("/api/v1/rewards", params={"name": name}).json()["data"][0]["version"] == 1

    open_tab(page, "datasets")
    page.locator("#datasets-table button", has_text=dataset["name"]).click()
    page.locator("#dataset-settings summary").click()
    expect(page.locator("#ds-reward")).to_have_value("")
    page.locator("#ds-reward").fill(name)
    page.locator("#ds-save").click()
    expect(page.locator("#dataset-progress")).to_contain_text(f"reward: {name}")
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json()["reward"] == name

    page.locator("#dataset-settings summary").click()  # the saved page is drawn again, settings closed
    page.locator("#ds-reward").fill("")
    page.locator("#ds-save").click()
    expect(page.locator("#dataset-progress")).to_contain_text("reward: default")
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json()["reward"] is None
