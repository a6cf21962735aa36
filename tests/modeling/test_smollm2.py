"""builtin:smollm2-135m-instruct when the wheel cannot be had: one clear line naming the wheel and the
setting, nothing left in the cache; and a wheel placed by hand is checked before it is used."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.settings import get_settings
from services.modeling import smollm2
from services.modeling.base_models import BUILTIN_SMOLLM2, ModelUnavailableError, resolve_base_model
from training_jobs.checkpoints import base_model_source
from training_jobs.context import JobInputError


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RLHF_MODEL_CACHE_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path / "models"
    get_settings.cache_clear()


@pytest.fixture
def no_pypi(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip in the subprocess with no index, no find-links and no configuration files: as offline."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")


def _assert_clean(cache_dir: Path) -> None:
    assert [entry.name for entry in cache_dir.iterdir() if not entry.name.endswith(".lock")] == []


def test_without_pypi_and_without_a_cache_the_error_names_the_wheel_and_the_setting(cache_dir, no_pypi):
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_base_model(BUILTIN_SMOLLM2)

    message = str(caught.value)
    assert "\n" not in message
    assert smollm2.REQUIREMENT in message and "RLHF_SMOLLM2_WHEEL" in message and "pip" in message
    _assert_clean(cache_dir)


def test_a_job_reports_it_as_its_error(cache_dir, no_pypi):
    with pytest.raises(JobInputError, match="RLHF_SMOLLM2_WHEEL"):
        base_model_source(BUILTIN_SMOLLM2)


def test_a_placed_wheel_that_is_missing_or_not_the_pinned_one_is_refused(
    cache_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RLHF_SMOLLM2_WHEEL", str(tmp_path / "nowhere.whl"))
    get_settings.cache_clear()
    with pytest.raises(ModelUnavailableError, match="is not a file"):
        resolve_base_model(BUILTIN_SMOLLM2)

    forged = tmp_path / smollm2.WHEEL_FILE
    with zipfile.ZipFile(forged, "w") as archive:
        archive.writestr(smollm2.GGUF_MEMBER, b"not a model")
    monkeypatch.setenv("RLHF_SMOLLM2_WHEEL", str(forged))
    get_settings.cache_clear()
    with pytest.raises(ModelUnavailableError, match=f"not {smollm2.WHEEL_SHA256}"):
        resolve_base_model(BUILTIN_SMOLLM2)
    _assert_clean(cache_dir)


def test_an_unknown_builtin_name_is_refused():
    with pytest.raises(ModelUnavailableError, match="unknown built-in model 'builtin:nope'"):
        resolve_base_model("builtin:nope")
