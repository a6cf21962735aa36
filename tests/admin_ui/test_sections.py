"""Focused checks of the console's sections: the job form covers every kind the API describes and shows the
API's refusal; a dataset in use by a job is not deleted, and the server's reason is shown."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from services.core.enums import JobStatus
from tests.helpers.console import open_tab, sign_in
from tests.helpers.jobs import ENDLESS, create_dataset, submit, wait_for_job


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
