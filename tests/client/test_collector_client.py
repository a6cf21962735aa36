"""CollectorClient against the session's collector: typed answers, and errors that say which request, which
URL and which token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.client import CollectorClient, CollectorError
from services.core.enums import AnnotatorStatus, Choice, ImportFormat
from services.core.net import free_port
from services.core.settings import Settings


def test_client_round_trip_dataset_import_annotator_and_vote(collector_url: str, admin_token: str):
    with CollectorClient(collector_url, admin_token) as admin:
        dataset = admin.create_dataset(f"client-{uuid.uuid4().hex[:8]}")
        body = b'{"prompt": "Say hi", "chosen": " Hi!", "rejected": " No."}\n'
        imported = admin.import_jsonl(dataset.id, body, format=ImportFormat.TRL)
        annotator = admin.create_annotator("client test")
        with admin.as_token(annotator.token, token_source="an annotator") as person:
            item = person.next_comparison(dataset.id)
            assert item is not None
            vote = person.vote(item.comparison_id, Choice.TIE)
            assert person.next_comparison(dataset.id) is None

    assert imported.comparisons == 1
    assert vote.choice == "tie" and vote.comparison_id == item.comparison_id


def test_refused_request_names_the_request_and_the_token_source(collector_url: str):
    with CollectorClient(collector_url, "not-a-token", token_source="a test's made-up token") as client:
        with pytest.raises(CollectorError) as refused:
            client.list_datasets()

    error = refused.value
    assert error.status_code == 401 and error.request == f"GET {collector_url}/api/v1/datasets"
    assert "token from a test's made-up token" in str(error) and "401" in str(error)


def test_unreachable_collector_says_where_its_url_came_from():
    url = f"http://127.0.0.1:{free_port()}"
    with CollectorClient(url, "t", url_source="RLHF_COLLECTOR_URL", timeout=5) as client:
        with pytest.raises(CollectorError) as unreachable:
            client.list_jobs()

    assert unreachable.value.status_code is None
    assert "cannot reach the collector" in str(unreachable.value) and "RLHF_COLLECTOR_URL" in str(
        unreachable.value
    )


def test_from_settings_says_which_admin_token_it_uses(tmp_path: Path):
    given = CollectorClient.from_settings(
        Settings(admin_token="x" * 32, collector_url="http://collector:8000")
    )
    stored = CollectorClient.from_settings(Settings(admin_token=None, state_dir=tmp_path))

    # The test session sets RLHF_ADMIN_TOKEN in the environment, not RLHF_COLLECTOR_URL.
    assert given.token_source == "RLHF_ADMIN_TOKEN in the environment"
    assert given.url_source == "RLHF_COLLECTOR_URL"
    assert given.base_url == "http://collector:8000"
    assert stored.token_source == str(tmp_path.resolve() / "admin_token")
    assert stored.url_source == "RLHF_HOST and RLHF_COLLECTOR_PORT"


def test_client_manages_annotators_and_builds_their_sign_in_link(collector_url: str, admin_token: str):
    with CollectorClient(collector_url, admin_token) as admin:
        dataset = admin.create_dataset(f"client-{uuid.uuid4().hex[:8]}")
        expires = datetime.now(UTC) + timedelta(days=1)
        created = admin.create_annotator("client annotator", expires_at=expires, datasets=[dataset.id])
        rotated = admin.rotate_annotator_token(created.id)
        unexpiring = admin.rotate_annotator_token(created.id, expires_at=None)
        everywhere = admin.assign_datasets(created.id, None)
        revoked = admin.revoke_annotator(created.id)
        listed = {annotator.id: annotator for annotator in admin.list_annotators()}
        link = admin.sign_in_link(unexpiring.token, dataset_id=dataset.id, base_url="https://label.example/")

    assert created.expires_at == expires and created.datasets == [dataset.id]
    assert rotated.expires_at == expires and rotated.token != created.token
    assert unexpiring.expires_at is None
    assert everywhere.all_datasets and revoked.status == AnnotatorStatus.REVOKED
    assert listed[created.id] == revoked
    assert link == f"https://label.example/annotate?token={unexpiring.token}&dataset={dataset.id}"
