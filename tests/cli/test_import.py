"""`rlhf import`: creates the dataset with the kind of the file's rows in the import's own transaction (a file
that fails leaves no dataset behind), skips duplicates on a second run, and documents every format."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from services.domain.import_formats import EXAMPLES
from tests.cli.test_annotators import rlhf
from tests.helpers.collector import unique


def test_import_creates_the_right_kind_and_a_failed_file_leaves_nothing(
    collector_url: str, admin: httpx.Client, tmp_path: Path
) -> None:
    good = tmp_path / "prompts.jsonl"
    good.write_text(
        "".join(json.dumps({"prompt": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(3))
    )
    name = unique("cli-prompts")
    first = rlhf(collector_url, "import", str(good), "--dataset", name, "--format", "trl")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "imported 3 rows; skipped 0 duplicates" in first.stdout
    dataset = next(d for d in admin.get("/api/v1/datasets").json()["data"] if d["name"] == name)
    assert (dataset["kind"], dataset["examples"]) == ("prompt", 3)
    again = rlhf(collector_url, "import", str(good), "--dataset", name, "--format", "trl")
    assert "imported 0 rows; skipped 3 duplicates" in again.stdout, again.stdout + again.stderr
    wrong = rlhf(
        collector_url, "import", str(good), "--dataset", name, "--format", "trl", "--kind", "preference"
    )
    assert wrong.returncode != 0 and "is a prompt dataset" in wrong.stdout + wrong.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": 3}\n')
    failed_name = unique("cli-bad")
    failed = rlhf(collector_url, "import", str(bad), "--dataset", failed_name, "--format", "trl")
    assert failed.returncode != 0 and "line 2" in failed.stdout + failed.stderr
    assert failed_name not in {d["name"] for d in admin.get("/api/v1/datasets").json()["data"]}


def test_import_help_shows_one_example_line_per_format(collector_url: str) -> None:
    shown = rlhf(collector_url, "import", "--help")
    assert shown.returncode == 0
    flat = " ".join(shown.stdout.split())
    for name, line in EXAMPLES.items():
        assert f"{name}: {' '.join(line.split())}" in flat, name
