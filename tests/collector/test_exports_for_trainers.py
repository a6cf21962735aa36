"""Exports other trainers read: the trl JSONL loads unchanged with `datasets` into TRL's DPOTrainer and has
OpenRLHF's default preference keys; the Parquet export holds the same rows, written in row groups."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from services.domain import exports
from tests.helpers.tiny_models import build_tiny_gpt2

# OpenRLHF's reward-model and DPO trainers read a preference dataset through
# `--prompt_key prompt --chosen_key chosen --rejected_key rejected`: openrlhf/datasets/reward_dataset.py,
# `preprocess_data` at OpenRLHF/OpenRLHF@0008ea1a8bc6dae5bdb2369db53a06170d81323c. Without a chat template it
# takes the three keys' values as they are and trains on `prompt + chosen` and `prompt + rejected` (string
# concatenation: the response must carry its own leading space), and reads a non-null `margin` column as
# each pair's margin (0 when absent or null).
OPENRLHF_KEYS = ("prompt", "chosen", "rejected")


def decided_dataset(make_dataset: Callable, make_annotator: Callable, n: int) -> dict[str, Any]:
    """A dataset of `n` comparisons, each decided by one vote (a or b, strengths 1 to 3)."""
    dataset = make_dataset(n)
    person = make_annotator()
    for number, comparison_id in enumerate(dataset["ids"]):
        body = {"choice": "ab"[number % 2], "strength": number % 3 + 1}
        response = person.post(f"/api/v1/comparisons/{comparison_id}/preferences", json=body)
        assert response.status_code == 201, response.text
    return dataset


def export_bytes(admin: httpx.Client, dataset_id: int, fmt: str) -> httpx.Response:
    response = admin.get(f"/api/v1/datasets/{dataset_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    return response


def test_trl_export_loads_with_datasets_into_dpo_trainer(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, tmp_path: Path
) -> None:
    dataset = decided_dataset(make_dataset, make_annotator, 4)
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(export_bytes(admin, dataset["id"], "trl").content)
    lines = [json.loads(line) for line in path.read_text().splitlines()]

    loaded = load_dataset("json", data_files=str(path), split="train")

    assert set(loaded.column_names) == {"prompt", "chosen", "rejected", "margin"}
    assert set(OPENRLHF_KEYS) <= set(loaded.column_names)
    assert loaded.to_list() == lines and len(lines) == 4
    assert all(isinstance(row[key], str) for row in lines for key in OPENRLHF_KEYS)

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(
        output_dir=str(tmp_path / "dpo"),
        per_device_train_batch_size=2,
        max_steps=1,
        max_length=64,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
    )
    trainer = DPOTrainer(model=str(build_tiny_gpt2(tmp_path / "policy")), args=args, train_dataset=loaded)
    trainer.train()

    assert trainer.state.global_step == 1
    assert math.isfinite(trainer.state.log_history[-1]["train_loss"])


def test_trl_export_loads_unchanged_into_reward_trainer_and_openrlhf_keys(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, tmp_path: Path
) -> None:
    dataset = decided_dataset(make_dataset, make_annotator, 4)
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(export_bytes(admin, dataset["id"], "trl").content)
    loaded = load_dataset("json", data_files=str(path), split="train")

    # What OpenRLHF's preprocess_data needs of each row (comment at OPENRLHF_KEYS), on the loaded rows.
    for row in loaded:
        assert all(isinstance(row[key], str) and row[key] for key in OPENRLHF_KEYS)
        assert isinstance(row["margin"], int | float) and row["margin"] >= 0

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import RewardConfig, RewardTrainer

    args = RewardConfig(
        output_dir=str(tmp_path / "rm"),
        per_device_train_batch_size=2,
        max_steps=2,
        max_length=64,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
    )
    # RewardTrainer takes prompt/chosen/rejected (explicit prompt) and uses `margin` in its loss.
    trainer = RewardTrainer(model=str(build_tiny_gpt2(tmp_path / "rm-base")), args=args, train_dataset=loaded)
    trainer.train()

    assert trainer.state.global_step == 2
    assert math.isfinite(trainer.state.log_history[-1]["train_loss"])


def test_parquet_export_round_trips_the_trl_rows(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = decided_dataset(make_dataset, make_annotator, 5)
    lines = [json.loads(line) for line in export_bytes(admin, dataset["id"], "trl").text.splitlines()]

    response = export_bytes(admin, dataset["id"], "parquet")

    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert f'filename="dataset-{dataset["id"]}.parquet"' in response.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column_names == ["prompt", "chosen", "rejected", "margin"]
    assert table.to_pylist() == lines and len(lines) == 5


def test_parquet_export_of_an_empty_dataset_is_an_empty_table(
    make_dataset: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset(2)  # comparisons, no votes

    table = pq.read_table(io.BytesIO(export_bytes(admin, dataset["id"], "parquet").content))

    assert table.num_rows == 0 and table.column_names == ["prompt", "chosen", "rejected", "margin"]


def test_parquet_export_streams_one_row_group_per_chunk(
    make_dataset: Callable, make_annotator: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = decided_dataset(make_dataset, make_annotator, 7)
    monkeypatch.setattr(exports, "CHUNK_ROWS", 2)

    chunks = list(exports.stream(dataset["id"], "preference", format="parquet"))

    # Each row group left as it was written (4 groups, then the footer), not the file at the end.
    assert len(chunks) == 5 and all(chunks)
    parquet = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert parquet.metadata.num_row_groups == 4
    assert [parquet.metadata.row_group(i).num_rows for i in range(4)] == [2, 2, 2, 1]


def test_cli_exports_parquet(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client, collector_url: str, tmp_path: Path
) -> None:
    dataset = decided_dataset(make_dataset, make_annotator, 3)
    output = tmp_path / "pairs.parquet"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "export",
            dataset["name"],
            "--format",
            "parquet",
            "-o",
            str(output),
        ],
        env={**os.environ, "RLHF_COLLECTOR_URL": collector_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert f"wrote {output.stat().st_size} bytes" in done.stdout
    lines = [json.loads(line) for line in export_bytes(admin, dataset["id"], "trl").text.splitlines()]
    assert pq.read_table(output).to_pylist() == lines


def conversation(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def vote_a(make_annotator: Callable, ids: list[int]) -> None:
    person = make_annotator()
    for comparison_id in ids:
        response = person.post(f"/api/v1/comparisons/{comparison_id}/preferences", json={"choice": "a"})
        assert response.status_code == 201, response.text


def add_items(admin: httpx.Client, dataset_id: int, items: list[dict[str, Any]]) -> list[int]:
    response = admin.post(f"/api/v1/datasets/{dataset_id}/comparisons", json={"items": items})
    assert response.status_code in (200, 201), response.text
    return [int(i) for i in response.json()["ids"]]


def test_parquet_export_of_conversations_has_message_lists_and_references(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    dataset = make_dataset()
    items = [
        {
            "prompt": conversation("Sky colour?"),
            "response_a": "Blue.",
            "response_b": "Green.",
            "reference": "Blue",
        },
        {"prompt": conversation("Grass colour?"), "response_a": "Green.", "response_b": "Red."},
    ]
    vote_a(make_annotator, add_items(admin, dataset["id"], items))
    lines = [json.loads(line) for line in export_bytes(admin, dataset["id"], "trl").text.splitlines()]

    table = pq.read_table(io.BytesIO(export_bytes(admin, dataset["id"], "parquet").content))

    assert str(table.schema.field("prompt").type) == "list<element: struct<role: string, content: string>>"
    assert table.column_names == ["prompt", "chosen", "rejected", "margin", "reference"]
    rows = table.to_pylist()
    assert rows[0] == lines[0]
    assert rows[1] == lines[1] | {"reference": None}  # the trl line leaves out a missing reference


def test_parquet_export_refuses_what_one_schema_cannot_hold(
    make_dataset: Callable, make_annotator: Callable, admin: httpx.Client
) -> None:
    mixed = make_dataset()
    items: list[dict[str, Any]] = [
        {"prompt": conversation("Sky colour?"), "response_a": "Blue.", "response_b": "Green."},
        {"prompt": "Grass colour?", "response_a": "Green.", "response_b": "Red."},
    ]
    vote_a(make_annotator, add_items(admin, mixed["id"], items))
    prompts = admin.post("/api/v1/datasets", json={"name": f"{mixed['name']}-p", "kind": "prompt"}).json()

    refused = [
        admin.get(f"/api/v1/datasets/{dataset_id}/export", params={"format": "parquet"})
        for dataset_id in (mixed["id"], prompts["id"])
    ]

    assert [response.status_code for response in refused] == [422, 422]
    assert "every prompt of the dataset text, or every one a conversation" in refused[0].text
    assert "exports preference datasets" in refused[1].text
