"""Where a checkpoint registered with POST /api/v1/models comes from: a folder on the server, a Hugging Face id
found in the server's Hugging Face cache (the collector reaches no model hub: a model not cached there is
refused with how to fetch it), or an archive of the folder uploaded by a client that does not share the
server's filesystem (tar, tar.gz or zip).

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
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from services.core.artifacts import artifact_root
from services.core.errors import InvalidInputError

COPY_CHUNK = 1024 * 1024
MAX_ARCHIVE_MEMBERS = 10_000
# What reading a bad archive raises besides our own refusals: truncated (EOFError), corrupt (BadZipFile,
# TarError, zlib.error), encrypted or of an unsupported compression (RuntimeError, NotImplementedError), or
# members whose paths collide as file and folder (OSError).
UNREADABLE_ARCHIVE = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
    RuntimeError,
    NotImplementedError,
)


def resolve_source(source: str) -> tuple[Path, str | None]:
    """(the folder on the server, the hub id when it came from the Hugging Face cache) for a source."""
    folder = Path(source).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise InvalidInputError(f"source {source!r} is not a folder on the server")
        return folder.resolve(), None
    if source.startswith(("/", ".", "~")) or source.count("/") > 1:
        raise InvalidInputError(f"source {source!r} is not a folder on the server")
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source, local_files_only=True)), source
    except HFValidationError as error:
        raise InvalidInputError(
            f"source {source!r} is neither a folder on the server nor a hub id"
        ) from error
    except LocalEntryNotFoundError as error:
        raise InvalidInputError(
            f"source {source!r} is neither a folder on the server nor a model in its Hugging Face cache "
            f"({HF_HUB_CACHE}); the collector reaches no model hub: fetch it on the server first "
            f"(`hf download {source}`) or register its folder"
        ) from error


@contextmanager
def unpacked(archive: IO[bytes], *, max_bytes: int) -> Iterator[Path]:
    """The model folder of an uploaded archive, unpacked into a private folder of the artifact store that
    is removed afterwards: the archive's top, or its one top-level folder."""
    target = artifact_root() / f".tmp-upload-{uuid.uuid4().hex}"  # .tmp-*: left out of backups
    target.mkdir(parents=True)
    try:
        try:
            if zipfile.is_zipfile(archive):
                archive.seek(0)
                _unzip(archive, target, max_bytes)
            else:
                archive.seek(0)
                _untar(archive, target, max_bytes)
        except UNREADABLE_ARCHIVE as error:  # truncated, corrupt, encrypted, or colliding member paths
            raise InvalidInputError(
                f"the archive cannot be unpacked: {type(error).__name__}: {error}"
            ) from error
        yield _model_folder(target)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _count_members(count: int) -> None:
    if count > MAX_ARCHIVE_MEMBERS:
        raise InvalidInputError(
            f"the archive has more than {MAX_ARCHIVE_MEMBERS} members; a model folder has a few"
        )


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
        _count_members(len(members))
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
        members = []
        for member in bundle:  # read lazily: getmembers() would build every entry of an archive bomb first
            members.append(member)
            _count_members(len(members))
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
