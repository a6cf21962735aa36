"""Where a checkpoint registered with POST /api/v1/models comes from: a folder on the server, a Hugging Face id
(the hub's cache, downloading into it when the hub is reachable), or an archive of the folder uploaded by a
client that does not share the server's filesystem (tar, tar.gz or zip).

An archive is checked before anything is written: only plain files and folders, no absolute paths, no `..`,
no links, and at most `max_bytes` unpacked (declared sizes are checked first, then counted while writing, so a
member lying about its size stops there too).
"""

from __future__ import annotations

import re
import shutil
import stat
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from services.core.artifacts import artifact_root
from services.core.errors import InvalidInputError

# A Hugging Face repository id: `name` or `owner/name` (the hub's own rule: letters, digits, `-`, `_`, `.`).
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")
# What a registered checkpoint needs of a hub repository: its config, weights and tokenizer, not the copies
# of its weights for other frameworks.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.bin", "*.txt", "*.model", "*.py", "*.tiktoken"]
COPY_CHUNK = 1024 * 1024


def local_or_hub(source: str) -> tuple[Path, str]:
    """(the checkpoint's folder, what to record as its source): a folder on the server, else a Hugging Face id
    resolved through the hub's cache."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        return folder, str(folder)
    if source.startswith(("/", ".", "~")) or not HUB_ID.match(source):
        raise InvalidInputError(f"source {source!r} is not a folder on the server")
    snapshot = hub_snapshot(source)
    return snapshot, f"{source}@{snapshot.name}"


def hub_snapshot(repo_id: str) -> Path:
    """The folder of a hub repository's snapshot: from the cache (HF_HOME / HF_HUB_CACHE), downloaded into it
    first when the hub is reachable and HF_HUB_OFFLINE is not set."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
    except LocalEntryNotFoundError as error:
        raise InvalidInputError(
            f"source {repo_id!r} is not a folder on the server, not in this server's Hugging Face cache, and the "
            "hub could not be reached (or HF_HUB_OFFLINE is set): put the model in the cache, give a folder "
            f"on the server, or upload the folder as an archive ({error})"
        ) from error
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise InvalidInputError(
            f"source {repo_id!r} is not a folder on the server and the Hugging Face hub refused it: {error}"
        ) from error
    except (
        Exception
    ) as error:  # a proxy or transport failure of the hub client: the caller's input stays fine
        raise InvalidInputError(
            f"source {repo_id!r} is not a folder on the server and the Hugging Face hub could not be reached: "
            f"{type(error).__name__}: {error}"
        ) from error


@contextmanager
def unpacked(archive: IO[bytes], *, max_bytes: int) -> Iterator[Path]:
    """The model folder of an uploaded archive, unpacked into a private folder of the artifact store that
    is removed afterwards: the archive's top, or its one top-level folder."""
    target = artifact_root() / f".upload-{uuid.uuid4().hex}"
    target.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            archive.seek(0)
            _unzip(archive, target, max_bytes)
        else:
            archive.seek(0)
            _untar(archive, target, max_bytes)
        yield _model_folder(target)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise InvalidInputError(f"the archive's member {name!r} points outside its folder")
    return path


def _check_size(total: int, max_bytes: int) -> None:
    if total > max_bytes:
        raise InvalidInputError(
            f"the archive unpacks to more than {max_bytes} bytes (RLHF_MAX_MODEL_UPLOAD_BYTES)"
        )


def _unzip(archive: IO[bytes], target: Path, max_bytes: int) -> None:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        for member in members:
            _safe_name(member.filename)
            if stat.S_ISLNK(member.external_attr >> 16):
                raise InvalidInputError(f"the archive's member {member.filename!r} is a link")
        _check_size(sum(member.file_size for member in members), max_bytes)
        written = 0
        for member in members:
            path = target / _safe_name(member.filename)
            if member.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, open(path, "wb") as sink:
                written = _copy(source, sink, written, max_bytes)


def _untar(archive: IO[bytes], target: Path, max_bytes: int) -> None:
    try:
        bundle = tarfile.open(fileobj=archive, mode="r:*")
    except tarfile.TarError as error:
        raise InvalidInputError(f"the upload is neither a zip nor a tar archive: {error}") from error
    with bundle:
        members = bundle.getmembers()
        for member in members:
            _safe_name(member.name)
            if not (member.isfile() or member.isdir()):
                raise InvalidInputError(
                    f"the archive's member {member.name!r} is not a plain file or folder (links are refused)"
                )
        _check_size(sum(member.size for member in members if member.isfile()), max_bytes)
        written = 0
        for member in members:
            path = target / _safe_name(member.name)
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            source = bundle.extractfile(member)
            assert source is not None  # a regular file
            with source, open(path, "wb") as sink:
                written = _copy(source, sink, written, max_bytes)


def _copy(source: IO[bytes], sink: IO[bytes], written: int, max_bytes: int) -> int:
    while chunk := source.read(COPY_CHUNK):
        written += len(chunk)
        _check_size(written, max_bytes)
        sink.write(chunk)
    return written


def _model_folder(root: Path) -> Path:
    if (root / "config.json").is_file():
        return root
    entries = [entry for entry in root.iterdir() if not entry.name.startswith(".")]
    if len(entries) == 1 and (entries[0] / "config.json").is_file():
        return entries[0]
    raise InvalidInputError(
        "the archive holds no config.json at its top or in its one top-level folder: archive the model's folder"
    )
