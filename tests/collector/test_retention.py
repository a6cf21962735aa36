"""Deleting datasets and model versions, and unpromoting: refused (409, nothing changed) while a queued or
running job uses them or a version is promoted; otherwise gone with their comparisons, votes or files."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.core.artifacts import new_version_dir, version_path
from services.core.enums import ModelKind
from services.core.orm import ModelVersion
from tests.helpers.collector import table_counts
from tests.helpers.jobs import submit, wait_for_job
from tests.helpers.tiny_models import add_version


def _cancel(admin: httpx.Client, job_id: int) -> None:
    admin.post(f"/api/v1/jobs/{job_id}/cancel").raise_for_status()
    wait_for_job(admin, job_id)  # a worker of another test module may have claimed it meanwhile


def test_dataset_delete_is_refused_while_a_job_uses_it_then_removes_everything(
    admin: httpx.Client, make_dataset: Callable, make_annotator: Callable, db: Session
) -> None:
    dataset = make_dataset(3)
    make_annotator().post(
        f"/api/v1/comparisons/{dataset['ids'][0]}/preferences", json={"choice": "a"}
    ).raise_for_status()
    job_id = submit(admin, "reward_model", dataset["id"])
    before = table_counts(db)

    refused = admin.delete(f"/api/v1/datasets/{dataset['id']}")

    assert refused.status_code == 409 and f"job(s) {job_id}" in refused.json()["detail"]
    assert table_counts(db) == before
    _cancel(admin, job_id)

    assert admin.delete(f"/api/v1/datasets/{dataset['id']}").status_code == 204
    assert admin.get(f"/api/v1/datasets/{dataset['id']}").status_code == 404
    left = db.execute(
        text("SELECT count(*) FROM comparison WHERE id = ANY(:ids)"), {"ids": dataset["ids"]}
    ).scalar_one()
    assert left == 0
    after = table_counts(db)
    assert after["preference"] == before["preference"] - 1 and after["job"] == before["job"]
    # The finished job keeps its record, without the dataset.
    assert admin.get(f"/api/v1/jobs/{job_id}").json()["dataset_id"] is None
    assert admin.delete(f"/api/v1/datasets/{dataset['id']}").status_code == 404


def test_unpromote_goes_back_to_no_promoted_version(admin: httpx.Client, db: Session) -> None:
    version = add_version(db, kind=ModelKind.REWARD, seed=1)
    admin.post(f"/api/v1/models/{version.id}/promote").raise_for_status()

    unpromoted = admin.post(f"/api/v1/models/{version.id}/unpromote")

    assert unpromoted.status_code == 200 and unpromoted.json()["promoted"] is False
    promoted = [
        v for v in admin.get("/api/v1/models", params={"kind": "reward"}).json()["data"] if v["promoted"]
    ]
    assert promoted == []
    again = admin.post(f"/api/v1/models/{version.id}/unpromote")
    assert again.status_code == 409 and "not promoted" in again.json()["detail"]


def test_model_delete_is_refused_while_promoted_or_used_then_removes_the_files(
    admin: httpx.Client, make_dataset: Callable, db: Session
) -> None:
    version = add_version(db, kind=ModelKind.POLICY, seed=2)
    files = version_path(version.path)
    assert files.is_dir()
    admin.post(f"/api/v1/models/{version.id}/promote").raise_for_status()

    promoted = admin.delete(f"/api/v1/models/{version.id}")
    assert promoted.status_code == 409 and "unpromote" in promoted.json()["detail"]
    admin.post(f"/api/v1/models/{version.id}/unpromote").raise_for_status()
    job_id = submit(admin, "dpo", make_dataset(2)["id"], params={"policy_version_id": version.id})
    used = admin.delete(f"/api/v1/models/{version.id}")
    assert used.status_code == 409 and f"job(s) {job_id}" in used.json()["detail"]
    assert files.is_dir() and admin.get(f"/api/v1/models/{version.id}").status_code == 200
    _cancel(admin, job_id)

    assert admin.delete(f"/api/v1/models/{version.id}").status_code == 204
    assert admin.get(f"/api/v1/models/{version.id}").status_code == 404
    assert not files.exists()
    assert admin.delete(f"/api/v1/models/{version.id}").status_code == 404


def test_curves_of_a_version_without_them_and_of_a_job_without_a_version_are_404(
    admin: httpx.Client, make_dataset: Callable, db: Session
) -> None:
    version = add_version(db, kind=ModelKind.REWARD, seed=3)
    missing = admin.get(f"/api/v1/models/{version.id}/curves.png")
    assert missing.status_code == 404 and "no training curves" in missing.json()["detail"]
    job_id = submit(admin, "reward_model", make_dataset(1)["id"])
    no_version = admin.get(f"/api/v1/jobs/{job_id}/curves.png")
    assert no_version.status_code == 404 and "no model version" in no_version.json()["detail"]
    _cancel(admin, job_id)
    assert admin.get("/api/v1/jobs/999999999/curves.png").status_code == 404


def test_model_delete_is_refused_while_a_named_reward_scores_with_it(
    admin: httpx.Client, db: Session
) -> None:
    version = add_version(db, kind=ModelKind.REWARD, seed=5)
    name = f"retention-{version.id}"
    admin.post(
        "/api/v1/rewards", json={"name": name, "components": [{"model_version_id": version.id, "weight": 1}]}
    ).raise_for_status()

    refused = admin.delete(f"/api/v1/models/{version.id}")

    assert refused.status_code == 409 and f"{name} v1" in refused.json()["detail"]
    assert version_path(version.path).is_dir()


def _versions(db: Session, *, kind: ModelKind, base_model: str, count: int) -> list[int]:
    """Unpromoted version rows with a file each in the artifact store, oldest first."""
    ids = []
    for _ in range(count):
        name = f"test-prune-{uuid.uuid4().hex[:8]}"
        with new_version_dir(f"tests/{name}") as directory:
            (directory / "config.json").write_text("{}")
        version = ModelVersion(name=name, kind=kind, base_model=base_model, path=f"tests/{name}")
        db.add(version)
        db.commit()
        ids.append(version.id)
    return ids


def test_prune_deletes_old_unpromoted_versions_but_keeps_promoted_and_used_ones(
    admin: httpx.Client, make_dataset: Callable, db: Session
) -> None:
    base = f"prune-base-{uuid.uuid4().hex[:8]}"
    promoted, used, old, older_kept, newest = _versions(db, kind=ModelKind.REWARD, base_model=base, count=5)
    other_base = _versions(db, kind=ModelKind.REWARD, base_model=base + "-other", count=2)
    admin.post(f"/api/v1/models/{promoted}/promote").raise_for_status()
    job_id = submit(admin, "ppo", make_dataset(2)["id"], params={"reward_model_version_id": used})
    paths = {
        row.id: version_path(row.path)
        for row in db.scalars(select(ModelVersion).where(ModelVersion.base_model == base))
    }

    pruned = admin.post("/api/v1/models/prune", json={"keep": 2, "kind": "reward", "base_model": base})

    assert pruned.status_code == 200, pruned.text
    answer = pruned.json()
    assert sorted(version["id"] for version in answer["deleted"]) == [old]
    assert [(version["id"], f"job(s) {job_id}" in version["reason"]) for version in answer["kept"]] == [
        (used, True)
    ]
    left = {
        version["id"] for version in admin.get("/api/v1/models", params={"kind": "reward"}).json()["data"]
    }
    assert {promoted, used, older_kept, newest, *other_base} <= left and old not in left
    assert not paths[old].exists() and all(paths[v].is_dir() for v in (promoted, used, older_kept, newest))
    _cancel(admin, job_id)
    admin.post(f"/api/v1/models/{promoted}/unpromote").raise_for_status()


def test_prune_without_keep_or_setting_is_refused_and_deletes_nothing(
    admin: httpx.Client, db: Session
) -> None:
    base = f"prune-base-{uuid.uuid4().hex[:8]}"
    ids = _versions(db, kind=ModelKind.POLICY, base_model=base, count=2)
    before = table_counts(db)

    for body in (
        {"base_model": base},
        {"keep": -1, "base_model": base},
        {"keep": 1, "base_model": base, "x": 1},
    ):
        refused = admin.post("/api/v1/models/prune", json=body)
        assert refused.status_code == 422, (body, refused.text)

    assert table_counts(db) == before
    assert all(admin.get(f"/api/v1/models/{version_id}").status_code == 200 for version_id in ids)
