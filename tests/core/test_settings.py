import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.core.settings import Settings


def test_database_url_is_normalised_to_psycopg3() -> None:
    settings = Settings(database_url="postgresql://u@h:5432/d")
    assert settings.database_url == "postgresql+psycopg://u@h:5432/d"


@pytest.mark.parametrize("token", ["change-this-admin-token", "changeme", "short", None])
def test_production_refuses_placeholder_admin_token(token: str | None) -> None:
    with pytest.raises(ValidationError, match="RLHF_ADMIN_TOKEN"):
        Settings(
            environment="production",
            admin_token=token,
            database_url="postgresql://h/d",
            redis_url="redis://h",
        )


def test_production_accepts_real_secret() -> None:
    settings = Settings(
        environment="production",
        admin_token="q3J8v0cXo1b2Y7nK9rT5uW4zA6sD",
        database_url="postgresql://h/d",
        redis_url="redis://h",
    )
    assert settings.resolved_admin_token() == "q3J8v0cXo1b2Y7nK9rT5uW4zA6sD"


def test_admin_token_is_generated_once_into_the_state_dir(tmp_path) -> None:
    first = Settings(state_dir=tmp_path, admin_token=None).resolved_admin_token()
    second = Settings(state_dir=tmp_path, admin_token=None).resolved_admin_token()
    assert first == second and len(first) >= 32
    assert (tmp_path / "admin_token").stat().st_mode & 0o077 == 0


def test_lease_cap_defaults_to_three_leases_and_can_be_set() -> None:
    assert Settings(lease_seconds=100).resolved_lease_max_seconds == 300
    assert Settings(lease_seconds=100, lease_max_seconds=150).resolved_lease_max_seconds == 150
    with pytest.raises(ValidationError):
        Settings(lease_max_seconds=0)


def test_admin_token_file_is_created_0600_not_chmoded_after(tmp_path, monkeypatch) -> None:
    # A chmod after the write leaves a moment (or, if the process stops there, forever) where others may read it.
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    old_umask = os.umask(0)
    try:
        Settings(state_dir=tmp_path, admin_token=None).resolved_admin_token()
    finally:
        os.umask(old_umask)
    assert (tmp_path / "admin_token").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "token", ["aaaaaaaaaaaaaaaa", "abababababababababababab", "1111111111111111111111111111"]
)
def test_production_refuses_low_entropy_admin_tokens(token: str) -> None:
    with pytest.raises(ValidationError, match="RLHF_ADMIN_TOKEN"):
        Settings(
            environment="production",
            admin_token=token,
            database_url="postgresql://h/d",
            redis_url="redis://h",
        )


def test_production_refuses_the_compose_placeholder_database_password() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(
            environment="production",
            admin_token="q3J8v0cXo1b2Y7nK9rT5uW4zA6sD",
            database_url="postgresql://rlhf:change-this-database-password@postgres:5432/rlhf",
            redis_url="redis://h",
        )


def test_inference_auth_is_on_in_production_off_by_default_and_never_off_in_production() -> None:
    def production(**fields: Any) -> Settings:
        return Settings(
            environment="production",
            admin_token="q3J8v0cXo1b2Y7nK9rT5uW4zA6sD",
            database_url="postgresql://h/d",
            redis_url="redis://h",
            **fields,
        )

    assert not Settings().inference_auth_on
    assert Settings(inference_auth="on").inference_auth_on
    assert production().inference_auth_on
    with pytest.raises(ValidationError, match="RLHF_INFERENCE_AUTH"):
        production(inference_auth="off")


def test_default_policy_is_smollm2_and_built_ins_are_cached_per_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RLHF_POLICY_MODEL", raising=False)
    monkeypatch.delenv("RLHF_MODEL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    settings = Settings()

    assert settings.policy_model == "builtin:smollm2-135m-instruct"
    assert settings.resolved_model_cache_dir == (tmp_path / "xdg" / "rlhf" / "models").resolve()
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert Settings().resolved_model_cache_dir == Path.home().resolve() / ".cache" / "rlhf" / "models"
    monkeypatch.setenv("RLHF_MODEL_CACHE_DIR", str(tmp_path / "models"))
    assert Settings().resolved_model_cache_dir == (tmp_path / "models").resolve()
