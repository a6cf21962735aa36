"""`rlhf models register FOLDER`: a 2-label classifier built in the test becomes a reward version; with
`--kind policy`, a tiny GPT-2 becomes a policy version."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.tiny_models import build_tiny_gpt2, build_tiny_reward


def rlhf(collector_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, "RLHF_COLLECTOR_URL": collector_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_register_prints_the_version_and_refuses_an_unknown_label(
    collector_url: str, admin: httpx.Client, tmp_path: Path
) -> None:
    build_tiny_reward(tmp_path, seed=3, labels=["neg", "pos"])

    done = rlhf(collector_url, "models", "register", str(tmp_path), "--label", "pos", "--transform", "prob",
                "--input", "response")  # fmt: skip
    refused = rlhf(collector_url, "models", "register", str(tmp_path), "--label", "happy")

    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(
        r"registered reward-(\d+) .*the prob of label 'pos' \(index 1\) of the response", done.stdout
    )
    assert found is not None, done.stdout
    version = admin.get(f"/api/v1/models/{found.group(1)}").raise_for_status().json()
    assert version["params"]["scoring"]["label_index"] == 1
    assert refused.returncode != 0
    assert "label 'happy' is not in this model's id2label" in refused.stdout + refused.stderr


def test_register_upload_sends_a_local_folder_as_an_archive(
    collector_url: str, admin: httpx.Client, tmp_path: Path
) -> None:
    folder = build_tiny_reward(tmp_path / "sentiment", seed=4, labels=["neg", "pos"])

    done = rlhf(collector_url, "models", "register", str(folder), "--upload", "--label", "1", "--transform",
                "logprob", "--input", "response")  # fmt: skip
    missing = rlhf(collector_url, "models", "register", str(tmp_path / "nothing"), "--upload")

    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"registered reward-(\d+) .*the logprob of label 'pos' \(index 1\)", done.stdout)
    assert found is not None, done.stdout
    version = admin.get(f"/api/v1/models/{found.group(1)}").raise_for_status().json()
    assert version["base_model"] == "upload:sentiment.tar.gz"
    assert missing.returncode != 0 and "is not a folder on this machine" in missing.stdout + missing.stderr


def test_register_policy_prints_the_version_and_refuses_a_classifier(
    collector_url: str, admin: httpx.Client, tmp_path: Path
) -> None:
    policy = build_tiny_gpt2(tmp_path / "policy", seed=4)
    classifier = build_tiny_reward(tmp_path / "classifier", seed=4)

    done = rlhf(collector_url, "models", "register", str(policy), "--kind", "policy")
    refused = rlhf(collector_url, "models", "register", str(classifier), "--kind", "policy")

    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"registered policy-(\d+) .*rlhf models promote \1", done.stdout)
    assert found is not None, done.stdout
    version = admin.get(f"/api/v1/models/{found.group(1)}").raise_for_status().json()
    assert version["kind"] == "policy" and version["params"]["source"] == str(policy.resolve())
    assert refused.returncode != 0
    assert "a policy is a causal LM" in refused.stdout + refused.stderr
