"""An operator's whole path through the console, in headless Chromium against the real collector and worker:
create a dataset from a file, add an annotator and hand them the sign-in link, who judges every comparison in
the annotation form; read progress and per-annotator work; export; train a reward model on the tiny GPT-2
from the generated job form, watch it finish with its curves; promote the version, then unpromote it.

Set CONSOLE_SCREENSHOTS_DIR=docs to refresh the console's screenshots in docs/ (admin-*.png)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.helpers.collector import unique
from tests.helpers.console import open_tab, sign_in
from tests.helpers.jobs import Worker, preference_rows
from tests.helpers.web_form import current_comparison_id, wait_for_next

PAIRS = 8
JOB_TIMEOUT_MS = 240_000


def shoot(page: Page, directory: Path, name: str) -> None:
    if page.locator("#notice").is_visible():
        page.locator("#dismiss-notice").click()
    page.screenshot(path=str(directory / name), full_page=True)


def test_operator_creates_collects_trains_and_promotes(
    page: Page,
    collector_url: str,
    admin_token: str,
    admin: httpx.Client,
    worker: Worker,
    tiny_gpt2: Path,
    tmp_path: Path,
) -> None:
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR", tmp_path))
    name = unique("helpful")
    upload = tmp_path / "pairs.jsonl"
    upload.write_text("".join(json.dumps(row) + "\n" for row in preference_rows(PAIRS, tag=name)))

    # A dataset from a file, the trl format's example lines shown beside the file input.
    sign_in(page, collector_url, admin_token)
    page.locator("#dataset-create-box summary").click()
    expect(page.locator("#dc-examples")).to_contain_text('"chosen": " blue."')
    page.locator("#dc-name").fill(name)
    page.locator("#dc-guidelines").fill("Prefer the response that describes a pleasant day.")
    page.locator("#dc-file").set_input_files(str(upload))
    page.locator("#dc-submit").click()
    expect(page.locator("#notice-text")).to_have_text(
        f"Imported {PAIRS} comparisons, 0 votes; 0 duplicates skipped."
    )
    expect(page.locator("#dataset-title")).to_contain_text(name)
    expect(page.locator("#dataset-progress")).to_contain_text(f"0 of {PAIRS} comparisons complete")
    dataset = next(d for d in admin.get("/api/v1/datasets").json()["data"] if d["name"] == name)
    assert dataset["guidelines"] == "Prefer the response that describes a pleasant day."

    # An annotator for that dataset; the sign-in link is shown once, with a copy button.
    open_tab(page, "annotators")
    annotator_name = unique("Ada")
    page.locator("#ac-name").fill(annotator_name)
    page.locator("#ac-datasets label", has_text=name).locator("input").check()
    page.locator("#ac-submit").click()
    expect(page.locator("#new-link")).to_be_visible()
    link = page.locator("#new-link-url").input_value()
    assert link.startswith(f"{collector_url}/annotate?token=") and link.endswith(f"&dataset={dataset['id']}")
    page.locator("#copy-link").click()
    expect(page.locator("#copy-state")).not_to_be_empty()
    expect(page.locator("#annotators-table")).to_contain_text(annotator_name)

    # The annotator opens the link and judges every comparison: the pleasant day wins.
    form = page.context.new_page()
    form.goto(link)
    form.locator("#view-work").wait_for(state="visible")
    for _ in range(PAIRS):
        previous = current_comparison_id(form)
        left_pleasant = any(
            good in form.locator("#left-text").inner_text() for good in ("warm", "kind", "fresh", "restful")
        )
        form.keyboard.press("1" if left_pleasant else "2")
        form.keyboard.press("Enter")
        wait_for_next(form, previous)
    expect(form.locator("#view-done")).to_be_visible()
    form.close()

    # Progress, the annotator's counts and median time, and an export.
    open_tab(page, "datasets")
    page.locator("#datasets-table button", has_text=name).click()
    expect(page.locator("#dataset-progress")).to_contain_text(f"{PAIRS} of {PAIRS} comparisons complete")
    row = page.locator("#dataset-annotators tr", has_text=annotator_name)
    expect(row.locator("td").nth(1)).to_have_text(str(PAIRS))
    assert re.fullmatch(r"\d+\.\d s", row.locator("td").nth(3).inner_text())  # median time per judgement
    expect(page.locator("#dataset-agreement")).to_contain_text("Krippendorff's α: not defined yet")
    shoot(page, shots, "admin-datasets.png")
    with page.expect_download() as download_info:
        page.locator("#dataset-export button[data-format=trl]").click()
    exported = Path(download_info.value.path()).read_text().splitlines()
    assert len(exported) == PAIRS
    assert {json.loads(line)["chosen"] for line in exported} == {
        r["chosen"] for r in preference_rows(PAIRS, tag=name)
    }

    # A reward model from the job form generated from the kind's parameters.
    open_tab(page, "jobs")
    page.locator("#job-start-box summary").click()
    page.locator("#js-kind").select_option("reward_model")
    expect(page.locator("#param-eval_fraction-help")).to_contain_text("Default: 0.1.")
    page.locator("#js-dataset").select_option(str(dataset["id"]))
    page.locator("#js-base-model").fill(str(tiny_gpt2))
    page.locator("#param-recipe").select_option(label="smoke")
    page.locator("#js-trl").fill('{"per_device_train_batch_size": 4}')
    page.locator("#js-submit").click()
    expect(page.locator("#notice-text")).to_contain_text("queued")
    job_id = int(page.locator("#job-title").inner_text().split(":")[0].removeprefix("Job #"))
    expect(page.locator(f"#jobs-table tr[data-job='{job_id}'] td").nth(3)).to_have_text(
        "succeeded", timeout=JOB_TIMEOUT_MS
    )
    expect(page.locator("#job-curves")).to_be_visible(timeout=10_000)
    assert page.locator("#job-curves").evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator("#job-log")).to_contain_text("training finished")
    job = admin.get(f"/api/v1/jobs/{job_id}").json()
    assert job["config"]["max_steps"] == 2 and job["config"]["per_device_train_batch_size"] == 4
    assert job["base_model"] == str(tiny_gpt2)
    shoot(page, shots, "admin-jobs.png")

    # Promote the version it made, see its metrics and curves; then unpromote it (the tests share a database).
    version_id = job["model_version_id"]
    open_tab(page, "models")
    version_row = page.locator(f"#models-table tr[data-version='{version_id}']")
    version_row.locator("button[data-action=promote]").click()
    expect(version_row).to_contain_text("promoted")
    assert admin.get(f"/api/v1/models/{version_id}").json()["promoted"] is True
    version_row.locator("td").first.locator("button").click()
    expect(page.locator("#model-title")).to_contain_text(f"reward-{version_id}")
    expect(page.locator("#model-detail")).to_contain_text("eval_accuracy")
    expect(page.locator("#model-curves")).to_be_visible()
    shoot(page, shots, "admin-models.png")
    version_row.locator("button[data-action=unpromote]").click()
    expect(version_row.locator("button[data-action=promote]")).to_be_visible()
    assert admin.get(f"/api/v1/models/{version_id}").json()["promoted"] is False
