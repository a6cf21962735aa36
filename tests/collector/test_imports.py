"""Imports (trl, hh, oasst) through the HTTP API and the `rlhf import` / `rlhf export` commands."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.helpers.collector import table_counts, unique
from tests.helpers.paths import REPO_ROOT

ETHICS_PROMPT = "Which of these two scenarios is more pleasant?"


def import_jsonl(
    admin: httpx.Client, dataset_id: int, lines: list[dict], fmt: str, *, with_preferences: bool
) -> httpx.Response:
    body = "\n".join(json.dumps(line) for line in lines).encode()
    return admin.post(
        f"/api/v1/datasets/{dataset_id}/import",
        params={"format": fmt, "with_preferences": str(with_preferences).lower()},
        content=body,
    )


def export(admin: httpx.Client, dataset_id: int, fmt: str) -> list[dict]:
    response = admin.get(f"/api/v1/datasets/{dataset_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def rlhf(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ethics_pairs_round_trip_through_cli_with_right_winners(
    data_dir: Path, tmp_path: Path, collector_url: str, admin: httpx.Client, db: Session
) -> None:
    with (data_dir / "ethics_utilitarianism_test.csv").open(newline="") as source:
        pairs = [(row[0], row[1]) for row in csv.reader(source)]  # column 1 is the preferred scenario
    upload = tmp_path / "ethics.jsonl"
    upload.write_text(
        "".join(json.dumps({"prompt": ETHICS_PROMPT, "chosen": c, "rejected": r}) + "\n" for c, r in pairs)
    )
    env = {"RLHF_COLLECTOR_URL": collector_url}
    name = unique("ethics")

    imported = rlhf(
        # The ETHICS file repeats a few pairs: keep them, so the export gives back every line.
        "import",
        str(upload),
        "--dataset",
        name,
        "--format",
        "trl",
        "--with-preferences",
        "--keep-duplicates",
        env=env,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"imported {len(pairs)} comparisons and {len(pairs)} preferences; skipped 0" in imported.stdout

    output = tmp_path / "ethics-export.jsonl"
    exported = rlhf("export", name, "--format", "trl", "-o", str(output), env=env)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert Counter((x["chosen"], x["rejected"]) for x in lines) == Counter(pairs)
    assert {x["prompt"] for x in lines} == {ETHICS_PROMPT}
    assert {x["margin"] for x in lines} == {0}  # imported winners carry no strength: "negligibly better"

    # The A/B order was randomised: about half the winners sit on side B.
    dataset_id = next(d["id"] for d in admin.get("/api/v1/datasets").json()["data"] if d["name"] == name)
    on_b = db.execute(
        text(
            "SELECT count(*) FILTER (WHERE p.choice = 'b') / count(*)::float FROM preference p "
            "JOIN comparison c ON c.id = p.comparison_id WHERE c.dataset_id = :id"
        ),
        {"id": dataset_id},
    ).scalar_one()
    assert 0.4 < on_b < 0.6
    # One prompt row, however many comparisons share it.
    assert (
        db.execute(text("SELECT count(*) FROM prompt WHERE text = :t"), {"t": ETHICS_PROMPT}).scalar_one()
        == 1
    )
    progress = admin.get(f"/api/v1/datasets/{dataset_id}").json()
    assert progress["comparisons"] == progress["complete"] == progress["votes"] == len(pairs)


def test_import_without_preferences_leaves_comparisons_open(
    make_dataset: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(0, k=2)
    lines = [{"prompt": f"p{i}", "chosen": f"c{i}", "rejected": f"r{i}"} for i in range(5)]
    response = import_jsonl(admin, dataset["id"], lines, "trl", with_preferences=False)
    assert response.status_code == 201
    assert response.json() | {"dataset_id": 0} == {
        "dataset_id": 0,
        "kind": "preference",
        "comparisons": 5,
        "preferences": 0,
        "examples": 0,
        "skipped": 0,
    }
    progress = admin.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert (progress["comparisons"], progress["votes"], progress["remaining"]) == (5, 0, 5)
    assert export(admin, dataset["id"], "trl") == []


def test_imported_winner_fills_one_slot_of_k(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(0, k=2)
    import_jsonl(
        admin, dataset["id"], [{"prompt": "p", "chosen": "c", "rejected": "r"}], "trl", with_preferences=True
    )
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").json()["votes_needed"] == 1
    alice, bob = make_annotator(), make_annotator()
    assert alice.get(f"/api/v1/datasets/{dataset['id']}/next").status_code == 200
    assert bob.get(f"/api/v1/datasets/{dataset['id']}/next").status_code == 204


def test_hh_dialogues_split_at_last_assistant_turn(make_dataset: Callable, admin: httpx.Client) -> None:
    dataset = make_dataset(0)
    context = "\n\nHuman: What is 2+2?\n\nAssistant: 4.\n\nHuman: And 3+3?\n\nAssistant:"
    lines = [
        {"chosen": context + " It is 6.", "rejected": context + " It is 7."},
        {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hey\n\nAssistant: Go away."},
    ]
    response = import_jsonl(admin, dataset["id"], lines, "hh", with_preferences=True)
    assert response.json() | {"dataset_id": 0} == {
        "dataset_id": 0,
        "kind": "preference",
        "comparisons": 2,
        "preferences": 2,
        "examples": 0,
        "skipped": 0,
    }
    exported = export(admin, dataset["id"], "trl")
    assert exported[0] == {"prompt": context, "chosen": " It is 6.", "rejected": " It is 7.", "margin": 0}
    assert exported[1]["prompt"] == "\n\nHuman: Hi\n\nAssistant:"
    assert (exported[1]["chosen"], exported[1]["rejected"]) == (" Hello!", " Go away.")
    raw = export(admin, dataset["id"], "raw")
    assert raw[0]["metadata"] == {"source": "hh"}
    assert raw[1]["metadata"] == {"source": "hh", "rejected_prompt_differs": True}


def oasst_pairs(path: Path) -> Counter[tuple[str, str]]:
    """(better, worse) reply texts of every ranked sibling pair, read independently of the importer."""
    pairs: Counter[tuple[str, str]] = Counter()

    def walk(message: dict) -> None:
        ranked = sorted((r for r in message["replies"] if r.get("rank") is not None), key=lambda r: r["rank"])
        for i, better in enumerate(ranked):
            for worse in ranked[i + 1 :]:
                pairs[better["text"], worse["text"]] += 1
        for reply in message["replies"]:
            walk(reply)

    for line in path.read_text().splitlines():
        walk(json.loads(line)["prompt"])
    return pairs


def test_oasst_trees_give_every_ranked_sibling_pair(
    data_dir: Path, make_dataset: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(0)
    path = data_dir / "oasst_en_100_ranked_trees.jsonl"
    response = admin.post(
        f"/api/v1/datasets/{dataset['id']}/import",
        params={"format": "oasst", "with_preferences": "true"},
        content=path.read_bytes(),
    )
    assert response.status_code == 201, response.text
    assert response.json() | {"dataset_id": 0} == {
        "dataset_id": 0,
        "kind": "preference",
        "comparisons": 754,
        "preferences": 754,
        "examples": 0,
        "skipped": 0,
    }  # as counted in SOURCES.md
    exported = export(admin, dataset["id"], "trl")
    assert Counter((x["chosen"][1:], x["rejected"][1:]) for x in exported) == oasst_pairs(path)
    first_tree = json.loads(path.read_text().splitlines()[0])["prompt"]
    first = exported[0]
    assert first["prompt"] == f"\n\nHuman: {first_tree['text']}\n\nAssistant:"


def test_malformed_line_rejects_whole_upload_with_line_number(
    make_dataset: Callable, admin: httpx.Client, db: Session
) -> None:
    dataset = make_dataset(0)
    good = json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"})
    body = "\n".join([good] * 2500 + ["{not json"] + [good]).encode()  # past the first insert batches
    before = table_counts(db)
    response = admin.post(f"/api/v1/datasets/{dataset['id']}/import", params={"format": "trl"}, content=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("line 2501: not valid JSON")
    assert table_counts(db) == before
