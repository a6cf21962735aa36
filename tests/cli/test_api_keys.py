"""`rlhf api-keys`: add prints a key that works with its scopes, list shows it without the key, revoke refuses it."""

from __future__ import annotations

import re

import httpx

from tests.helpers.cli import rlhf
from tests.helpers.collector import unique


def test_add_list_and_revoke(collector_url: str) -> None:
    name = unique("ci")
    added = rlhf(
        collector_url, "api-keys", "add", name, "--scope", "read", "--scope", "train", "--expires", "30d"
    )
    assert added.returncode == 0, added.stderr
    key = re.search(r"(rlhf_\S+)", added.stdout)
    assert key, added.stdout
    headers = {"Authorization": f"Bearer {key.group(1)}"}
    assert httpx.get(f"{collector_url}/api/v1/jobs", headers=headers).status_code == 200

    listed = rlhf(collector_url, "api-keys", "list")
    assert listed.returncode == 0 and name in listed.stdout and key.group(1) not in listed.stdout
    key_id = re.search(rf"(\d+)\s+│?\s*{name}", listed.stdout)
    assert key_id, listed.stdout

    revoked = rlhf(collector_url, "api-keys", "revoke", key_id.group(1))
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(f"{collector_url}/api/v1/jobs", headers=headers).status_code == 401

    bad = rlhf(collector_url, "api-keys", "add", "x", "--scope", "everything")
    assert bad.returncode != 0
