"""`rlhf annotators`: add prints a working sign-in link, link issues a new one (the old stops working), revoke,
assign and list, against the session's collector."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.helpers.cli import rlhf
from tests.helpers.collector import unique


def link_in(output: str) -> tuple[str, dict[str, list[str]]]:
    found = re.search(r"(http://\S+/annotate\?\S+)", output)
    assert found, output
    return found.group(1), parse_qs(urlsplit(found.group(1)).query)


def me(collector_url: str, token: str) -> httpx.Response:
    return httpx.get(f"{collector_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_add_link_assign_revoke_and_list(collector_url: str, admin: httpx.Client) -> None:
    dataset = admin.post("/api/v1/datasets", json={"name": unique("cli-ds")}).raise_for_status().json()
    admin.post("/api/v1/datasets", json={"name": unique("cli-other")}).raise_for_status()
    name = unique("cli-annotator")

    added = rlhf(collector_url, "annotators", "add", name, "--dataset", dataset["name"], "--expires", "30d")
    assert added.returncode == 0, added.stderr + added.stdout
    link, query = link_in(added.stdout)
    assert link.startswith(f"{collector_url}/annotate?")
    assert query["dataset"] == [str(dataset["id"])]
    first_token = query["token"][0]
    assert [d["id"] for d in me(collector_url, first_token).json()["datasets"]] == [dataset["id"]]

    listed = rlhf(collector_url, "annotators", "list")
    row = next(line for line in listed.stdout.splitlines() if name in line)
    assert "active" in row and dataset["name"] in row

    # `link` needs a new token: it says so and asks first.
    declined = rlhf(collector_url, "annotators", "link", name, input="n\n")
    assert declined.returncode != 0 and "stop working" in declined.stdout
    assert me(collector_url, first_token).status_code == 200
    relinked = rlhf(collector_url, "annotators", "link", name, "--yes")
    assert relinked.returncode == 0, relinked.stderr + relinked.stdout
    _, query = link_in(relinked.stdout)
    assert me(collector_url, first_token).status_code == 401
    second_token = query["token"][0]
    assert me(collector_url, second_token).status_code == 200

    assigned = rlhf(collector_url, "annotators", "assign", name, "--all")
    assert assigned.returncode == 0 and "every dataset" in assigned.stdout
    assert len(me(collector_url, second_token).json()["datasets"]) > 1

    revoked = rlhf(collector_url, "annotators", "revoke", name)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked" in me(collector_url, second_token).json()["detail"]
    row = next(line for line in rlhf(collector_url, "annotators").stdout.splitlines() if name in line)
    assert "revoked" in row


def test_unknown_annotator_and_bad_expiry_are_clear_errors(collector_url: str) -> None:
    unknown = rlhf(collector_url, "annotators", "revoke", unique("nobody"))
    assert unknown.returncode == 1 and "no annotator" in unknown.stdout
    bad = rlhf(collector_url, "annotators", "add", "x", "--expires", "next week")
    assert bad.returncode == 1 and "--expires" in bad.stdout
