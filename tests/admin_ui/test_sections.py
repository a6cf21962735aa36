"""Focused checks of the console's sections: the job form covers every kind the API describes and shows the
API's refusal; a dataset in use by a job is not deleted, and the server's reason is shown; settings saved;
an annotator assigned, given a new link and revoked; a running job watched live and cancelled."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from services.core.enums import JobStatus
from services.core.orm import ModelVersion
from services.domain.comparisons import NewComparison, add_comparisons
from services.domain.intervals import wilson
from tests.helpers.collector import unique
from tests.helpers.console import open_tab, sign_in
from tests.helpers.jobs import ENDLESS, Worker, create_dataset, submit, wait_for_job


def test_job_form_has_every_kind_and_parameter_the_api_describes(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client
) -> None:
    kinds = admin.get("/api/v1/job-kinds").raise_for_status().json()["data"]
    sign_in(page, collector_url, admin_token)
    open_tab(page, "jobs")
    page.locator("#job-start-box summary").click()
    expect(page.locator("#js-kind option")).to_have_count(len(kinds))
    offered = page.locator("#js-kind option").evaluate_all("options => options.map(o => o.value)")
    assert offered == [kind["kind"] for kind in kinds]
    for kind in kinds:
        page.locator("#js-kind").select_option(kind["kind"])
        expect(page.locator("#js-description")).to_have_text(kind["description"])
        for param in kind["params"]:
            expect(page.locator(f"#param-{param['name']}")).to_be_attached()
            expect(page.locator(f"#param-{param['name']}-help")).to_contain_text("Default:")
        assert page.locator("#js-params [data-param]").count() == len(kind["params"])


def test_job_form_shows_the_api_refusal_and_queues_nothing(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client
) -> None:
    dataset = create_dataset(admin, 2)
    before = admin.get("/api/v1/jobs").json()["count"]
    sign_in(page, collector_url, admin_token)
    open_tab(page, "jobs")
    page.locator("#job-start-box summary").click()
    page.locator("#js-kind").select_option("reward_model")
    page.locator("#js-dataset").select_option(str(dataset["id"]))
    page.locator("#param-eval_fraction").fill("1.5")
    page.locator("#js-submit").click()
    expect(page.locator("#js-error")).to_contain_text("eval_fraction")
    page.locator("#param-eval_fraction").fill("")
    page.locator("#js-trl").fill("{not json")
    page.locator("#js-submit").click()
    expect(page.locator("#js-error")).to_have_text("Other TRL config fields: not a JSON object.")
    assert admin.get("/api/v1/jobs").json()["count"] == before


def test_dataset_used_by_a_job_is_not_deleted_until_the_job_ends(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client
) -> None:
    dataset = create_dataset(admin, 2)
    job_id = submit(admin, "reward_model", dataset["id"], params=ENDLESS)
    sign_in(page, collector_url, admin_token)
    page.locator("#datasets-table button", has_text=dataset["name"]).click()

    page.locator("#dataset-delete").click()
    expect(page.locator("#confirm-text")).to_contain_text("2 comparisons and 2 votes")
    page.locator("#confirm-ok").click()
    expect(page.locator("#notice-text")).to_contain_text("Not deleted:")
    expect(page.locator("#notice-text")).to_contain_text(f"is used by unfinished job(s) {job_id}")
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").status_code == 200

    admin.post(f"/api/v1/jobs/{job_id}/cancel").raise_for_status()
    assert wait_for_job(admin, job_id, timeout=120)["status"] == JobStatus.CANCELLED
    page.locator("#dataset-delete").click()
    page.locator("#confirm-cancel").click()  # asked again, and "Cancel" keeps it
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").status_code == 200
    page.locator("#dataset-delete").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#notice-text")).to_have_text(f"Dataset {dataset['name']} deleted.")
    expect(page.locator("#datasets-table")).not_to_contain_text(dataset["name"])
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").status_code == 404


def test_dataset_settings_saved_from_the_form(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client
) -> None:
    dataset = create_dataset(admin, 2, with_preferences=False)
    sign_in(page, collector_url, admin_token)
    page.locator("#datasets-table button", has_text=dataset["name"]).click()
    page.locator("#dataset-settings summary").click()
    page.locator("#ds-guidelines").fill("Prefer the kinder answer.\nIgnore length.")
    page.locator("#ds-k").fill("3")
    page.locator("#ds-save").click()
    expect(page.locator("#dataset-progress")).to_contain_text(
        "0 of 2 comparisons complete (3 per comparison)"
    )
    saved = admin.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert saved["guidelines"] == "Prefer the kinder answer.\nIgnore length."
    assert saved["annotations_per_comparison"] == 3 and saved["votes_needed"] == 6


def test_annotator_assigned_relinked_and_revoked(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client
) -> None:
    dataset = create_dataset(admin, 1, with_preferences=False)
    name = unique("Grace")
    sign_in(page, collector_url, admin_token)
    open_tab(page, "annotators")
    page.locator("#ac-name").fill(name)
    page.locator("#ac-submit").click()
    expect(page.locator("#new-link-url")).to_have_value(re.compile("token="))
    first_link = page.locator("#new-link-url").input_value()
    assert "&dataset=" not in first_link  # every dataset: the form lets them choose
    first_token = parse_qs(urlsplit(first_link).query)["token"][0]
    row = page.locator("#annotators-table tr", has_text=name)
    expect(row.locator("td").nth(2)).to_have_text("all")
    annotator_id = int(row.get_attribute("data-annotator") or 0)

    row.get_by_role("button", name="Datasets").click()
    page.locator("tr.editing label", has_text=dataset["name"]).locator("input").check()
    page.locator("tr.editing").get_by_role("button", name="Save datasets").click()
    expect(row.locator("td").nth(2)).to_have_text(dataset["name"])
    assert admin.get(f"/api/v1/annotators/{annotator_id}").json()["datasets"] == [dataset["id"]]

    row.get_by_role("button", name="New link").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#new-link-url")).not_to_have_value(first_link)
    second_token = parse_qs(urlsplit(page.locator("#new-link-url").input_value()).query)["token"][0]
    me = {"Authorization": f"Bearer {first_token}"}
    assert httpx.get(f"{collector_url}/api/v1/me", headers=me).status_code == 401

    row.get_by_role("button", name="Revoke").click()
    page.locator("#confirm-ok").click()
    expect(row.locator("td").nth(1)).to_have_text("revoked")
    me = {"Authorization": f"Bearer {second_token}"}
    refused = httpx.get(f"{collector_url}/api/v1/me", headers=me)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_running_job_shows_progress_live_and_is_cancelled(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client, worker: Worker, tiny_gpt2: Path
) -> None:
    dataset = create_dataset(admin, 8)
    params = ENDLESS | {"logging_steps": 1, "probe_epochs": 0}  # a loss at every step, from the first
    job_id = submit(admin, "reward_model", dataset["id"], base_model=str(tiny_gpt2), params=params)
    sign_in(page, collector_url, admin_token)
    open_tab(page, "jobs")
    row = page.locator(f"#jobs-table tr[data-job='{job_id}']")
    row.get_by_role("button", name=f"#{job_id}").click()
    # Polled every 2 s: the loss of the latest step appears, and the ETA while it runs.
    expect(row.locator("td").nth(3)).to_have_text("running", timeout=120_000)
    expect(row.locator("td").nth(6)).to_have_text(re.compile(r"^\d+\.\d{4}$"), timeout=120_000)
    expect(page.locator("#job-progress")).to_contain_text("ETA")
    # The log view follows the log's end: at a step per few ms, its start ("training started") scrolls away.
    expect(page.locator("#job-log")).to_contain_text(re.compile(r"step \d+/100000 loss="))

    page.locator("#job-cancel").click()
    page.locator("#confirm-ok").click()
    expect(row.locator("td").nth(3)).to_have_text("cancelled", timeout=60_000)
    expect(page.locator("#job-cancel")).to_have_count(0)
    assert admin.get(f"/api/v1/jobs/{job_id}").json()["status"] == JobStatus.CANCELLED


def test_models_section_shows_win_rates_with_their_interval(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client, db: Session
) -> None:
    old, new = (
        ModelVersion(name=unique("policy"), kind="policy", base_model="builtin:tiny-gpt2", path="x")
        for _ in range(2)
    )
    db.add_all([old, new])
    db.commit()
    dataset = create_dataset(admin, 0)
    items = [
        NewComparison(f"q{i}", "x", "y", source_a_version_id=a.id, source_b_version_id=b.id)
        for i, (a, b) in enumerate([(old, new), (new, old), (old, new), (new, old)])
    ]
    voter = admin.post("/api/v1/annotators", json={"name": unique("judge")}).raise_for_status().json()
    headers = {"Authorization": f"Bearer {voter['token']}"}
    # Choices b, a, b, b: new wins the first three (on B, A, B), old the fourth (on B).
    for cid, choice in zip(add_comparisons(db, dataset["id"], items), ["b", "a", "b", "b"], strict=True):
        url = f"{collector_url}/api/v1/comparisons/{cid}/preferences"
        httpx.post(url, json={"choice": choice}, headers=headers).raise_for_status()

    sign_in(page, collector_url, admin_token)
    open_tab(page, "models")
    row = page.locator("#win-rates tr", has_text=old.name).filter(has_text=new.name)
    low, high = wilson(1, 4) or [0.0, 1.0]
    expect(row.locator("td")).to_have_text(
        [old.name, new.name, "1", "3", "0", "25.0 %", f"[{low * 100:.1f} %, {high * 100:.1f} %]"]
    )


def test_comparison_marked_gold_from_the_dataset_page(
    page: Page, collector_url: str, admin_token: str, admin: httpx.Client
) -> None:
    dataset = create_dataset(admin, 3, with_preferences=False)
    sign_in(page, collector_url, admin_token)
    page.locator("#datasets-table button", has_text=dataset["name"]).click()
    page.get_by_text("Comparisons and gold answers").click()
    expect(page.locator("#dataset-comparisons")).to_contain_text("1–3 of 3")
    first = page.locator("#dataset-comparisons select").first
    comparison_id = int(first.get_attribute("data-comparison") or 0)
    first.select_option("b")
    expect(page.locator("#notice-text")).to_have_text(
        f"Comparison {comparison_id} is a gold item (answer b)."
    )
    listed = admin.get(f"/api/v1/datasets/{dataset['id']}/comparisons").json()["data"]
    assert [c["gold"] for c in listed] == ["b", None, None] and listed[0]["id"] == comparison_id
