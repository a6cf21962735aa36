"""Registering a classifier from a Hugging Face id (the server's hub cache: the collector reaches no hub) and from an
uploaded archive of its folder: a 2-label classifier scores its label through /reward as transformers does;
archives that leave their folder, hold links or unpack past the limit are refused and write nothing."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.core.orm import ModelVersion
from tests.helpers.servers import running_collector
from tests.helpers.tiny_models import build_tiny_reward
from tests.inference.test_registered_classifier import INPUTS, LABELS, expected

RESPONSES = [item["response"] for item in INPUTS]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_reward(tmp_path_factory.mktemp("hub-sentiment"), seed=7, labels=LABELS)


def cache_repo(cache: Path, repo_id: str, folder: Path) -> Path:
    """`folder` as a snapshot of `repo_id` in a Hugging Face hub cache, laid out as huggingface_hub lays it
    out: content-addressed blobs, a snapshot of links to them, refs/main naming the commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for file in folder.iterdir():
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        blob.write_bytes(file.read_bytes())
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def versions(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(ModelVersion)) or 0


def score(admin: httpx.Client, inference: httpx.Client, version_id: int) -> list[float]:
    name = f"registered-{uuid.uuid4().hex[:8]}"
    components = [{"model_version_id": version_id, "weight": 1}]
    admin.post("/api/v1/rewards", json={"name": name, "components": components}).raise_for_status()
    answer = inference.post("/reward", json={"inputs": INPUTS, "reward": name})
    assert answer.status_code == 200, answer.text
    return answer.json()["rewards"]  # type: ignore[no-any-return]


def test_a_hugging_face_id_registers_from_the_hub_cache(
    admin: httpx.Client, inference: httpx.Client, classifier_dir: Path, stack_env: dict[str, str]
) -> None:
    repo_id = f"test-owner/sentiment-{uuid.uuid4().hex[:8]}"
    snapshot = cache_repo(Path(stack_env["HF_HUB_CACHE"]), repo_id, classifier_dir)

    created = admin.post(
        "/api/v1/models",
        json={
            "kind": "reward",
            "source": repo_id,
            "label": "POSITIVE",
            "transform": "logprob",
            "input": "response",
        },
    )

    assert created.status_code == 201, created.text
    version = created.json()
    assert version["base_model"] == repo_id and snapshot.is_dir()
    assert version["params"]["scoring"]["label_index"] == 1
    assert score(admin, inference, version["id"]) == pytest.approx(
        expected(classifier_dir, RESPONSES, "logprob"), abs=1e-5
    )


def test_an_id_neither_cached_nor_reachable_is_refused_plainly(admin: httpx.Client, db: Session) -> None:
    before = versions(db)

    response = admin.post(
        "/api/v1/models", json={"kind": "reward", "source": "nobody/not-cached", "label": 0}
    )

    assert response.status_code == 422, response.text
    assert "nor a model in its Hugging Face cache" in response.text
    assert "the collector reaches no model hub" in response.text
    assert versions(db) == before


def tar_gz(folder: Path, *, top: str = "model") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        bundle.add(folder, arcname=top)
    return buffer.getvalue()


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for file in folder.iterdir():
            bundle.write(file, file.name)  # the files at the archive's top
    return buffer.getvalue()


def upload(
    client: httpx.Client, archive: bytes, filename: str = "model.tar.gz", **fields: Any
) -> httpx.Response:
    data = {"kind": "reward", "label": "POSITIVE", "transform": "prob", "input": "response", **fields}
    return client.post("/api/v1/models/upload", files={"archive": (filename, archive)}, data=data)


@pytest.mark.parametrize("packing", ["tar.gz", "zip"])
def test_an_uploaded_archive_registers_and_scores_like_transformers(
    admin: httpx.Client, inference: httpx.Client, classifier_dir: Path, packing: str
) -> None:
    archive = tar_gz(classifier_dir) if packing == "tar.gz" else zipped(classifier_dir)

    created = upload(admin, archive, f"sentiment.{packing}")

    assert created.status_code == 201, created.text
    version = created.json()
    assert version["base_model"] == f"upload:sentiment.{packing}"
    assert version["params"]["scoring"] == {
        "label": "POSITIVE",
        "label_index": 1,
        "transform": "prob",
        "input": "response",
    }
    assert score(admin, inference, version["id"]) == pytest.approx(
        expected(classifier_dir, RESPONSES, "prob"), abs=1e-5
    )


def tar_with(member: tarfile.TarInfo, content: bytes = b"x", folder: Path | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as bundle:
        if folder is not None:
            bundle.add(folder, arcname=".")
        bundle.addfile(member, io.BytesIO(content) if member.isfile() else None)
    return buffer.getvalue()


def zip_with(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(name, "{}")
    return buffer.getvalue()


def _file(name: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = 1
    return member


def _link(name: str, target: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.SYMTYPE
    member.linkname = target
    return member


def corrupt_zip(folder: Path) -> bytes:
    """A zip whose central directory is intact but whose first member is damaged (a byte of its local
    header's name: it no longer matches the directory)."""
    data = bytearray(zipped(folder))
    data[31] ^= 0xFF
    return bytes(data)


def many_members(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for index in range(count):
            bundle.writestr(f"f{index}", "")
    return buffer.getvalue()


BAD_ARCHIVES = [
    pytest.param(lambda d: tar_with(_file("../escaped.txt"), folder=d), "points outside", id="tar-dotdot"),
    pytest.param(
        lambda d: tar_with(_file("/tmp/absolute.txt"), folder=d), "points outside", id="tar-absolute"
    ),
    pytest.param(
        lambda d: tar_with(_link("weights", "/etc/passwd"), folder=d), "links are refused", id="symlink"
    ),
    pytest.param(lambda d: zip_with("../../escaped.json"), "points outside", id="zip-dotdot"),
    pytest.param(lambda d: b"not an archive at all", "neither a zip nor a tar", id="garbage"),
    pytest.param(lambda d: zip_with("notes/readme.json"), "no config.json", id="no-model"),
    pytest.param(lambda d: tar_gz(d), "NEUTRAL", id="unknown-label"),
    pytest.param(lambda d: tar_gz(d)[: len(tar_gz(d)) // 2], "cannot be unpacked", id="truncated-tar-gz"),
    pytest.param(corrupt_zip, "cannot be unpacked", id="corrupt-zip"),
    pytest.param(lambda d: many_members(10_001), "more than 10000 members", id="too-many-members"),
]


@pytest.mark.parametrize(("make", "message"), BAD_ARCHIVES)
def test_bad_archives_answer_422_and_write_nothing(
    admin: httpx.Client, db: Session, classifier_dir: Path, stack_env: dict[str, str], make: Any, message: str
) -> None:
    artifacts = Path(stack_env["RLHF_ARTIFACT_DIR"])
    before, files_before = versions(db), sorted(artifacts.iterdir()) if artifacts.exists() else []
    fields = {"label": "NEUTRAL"} if message == "NEUTRAL" else {}

    response = upload(admin, make(classifier_dir), **fields)

    assert response.status_code == 422, response.text
    assert message in response.text
    assert versions(db) == before
    assert sorted(artifacts.iterdir()) == files_before  # the unpacked folder is gone too
    assert not (artifacts.parent / "escaped.txt").exists()


@pytest.fixture(scope="module")
def small_upload_collector(stack_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    """A collector that takes model archives of at most 64 KiB (packed and unpacked)."""
    env = {**stack_env, "RLHF_MAX_MODEL_UPLOAD_BYTES": str(64 * 1024)}
    with running_collector(env, log_path=state_dir / "collector-small-upload.log") as url:
        yield url


def test_oversize_archives_are_refused(
    small_upload_collector: str, admin_token: str, db: Session, classifier_dir: Path
) -> None:
    before = versions(db)
    # A few KiB packed, 1 MiB unpacked: refused while unpacking, by the declared size.
    zeros = io.BytesIO()
    with zipfile.ZipFile(zeros, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("config.json", b"{}")
        bundle.writestr("model.safetensors", bytes(1024 * 1024))
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=small_upload_collector, headers=headers, timeout=60) as client:
        bomb = upload(client, zeros.getvalue(), "bomb.zip")
        too_big = upload(client, tar_gz(classifier_dir))  # several MiB of weights: past the body limit

    assert bomb.status_code == 422, bomb.text
    assert "unpacks to more than 65536 bytes" in bomb.text
    assert too_big.status_code == 413, too_big.text
    assert versions(db) == before
