"""All configuration, from `RLHF_*` environment variables (and `.env`)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "changethis", "secret", "admin", "password", ""}
MIN_SECRET_LENGTH = 16


def _is_placeholder(secret: str) -> bool:
    lowered = secret.strip().lower()
    return lowered in PLACEHOLDER_SECRETS or "change" in lowered or len(lowered) < MIN_SECRET_LENGTH


GPU_QUEUE = "gpu"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RLHF_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"

    database_url: str | None = None
    redis_url: str | None = None
    state_dir: Path = Path(".rlhf")
    artifact_dir: Path | None = None
    admin_token: str | None = None

    host: str = "127.0.0.1"
    collector_port: int = 8000
    inference_port: int = 8001
    # Where the CLI and the inference service reach the collector; derived from host/port when unset.
    collector_url: str | None = None
    inference_url: str | None = None
    collector_workers: int = 1

    policy_model: str = "builtin:tiny-gpt2"

    # Annotation
    lease_seconds: int = Field(default=600, ge=1)
    # The most one annotator may hold one comparison, however often `next` renews the lease (unset: 3 ×
    # lease_seconds). Then it goes back to the pool, and that annotator is not given it again for lease_seconds.
    lease_max_seconds: int | None = Field(default=None, ge=1)
    max_text_bytes: int = 100_000
    max_batch_items: int = 1000

    # Jobs
    job_heartbeat_timeout_seconds: int = 120
    job_requeue_after_seconds: int = 60
    watchdog_interval_seconds: float = 15.0
    # Runs of a job whose worker died (no heartbeat) before it is failed with "worker died": a job that
    # kills its worker (out of memory) is retried once, not forever. A graceful stop does not count.
    job_max_attempts: int = Field(default=2, ge=1)
    # A file the worker touches every interval from a thread, also while a job keeps it busy: the
    # container's healthcheck reads its age (a busy `--pool solo` worker cannot answer `celery inspect ping`).
    worker_health_file: Path | None = None
    worker_health_interval_seconds: float = Field(default=10.0, gt=0)
    # Longer than any job: an unacknowledged job message must not be redelivered while its worker lives.
    broker_visibility_timeout_seconds: int = 7 * 24 * 3600
    accelerate_config_file: Path | None = None

    # `rlhf up` restarts a process or embedded server that dies, after a wait that doubles (up to 30 s) with
    # each fast failure in a row (a run shorter than the minimum uptime); it gives up after that many.
    restart_backoff_seconds: float = Field(default=1.0, gt=0)
    restart_min_uptime_seconds: float = Field(default=10.0, ge=0)
    restart_max_fast_failures: int = Field(default=5, ge=1)

    # Inference
    max_new_tokens_cap: int = 1024
    reward_max_batch_size: int = 64
    reward_max_wait_ms: float = 5.0
    # Padded tokens per reward forward pass: a batch is split by length so that short pairs are not padded
    # to the longest. On CPU, MiniLM passes past ~2k tokens got slower per pair (cache); raise it on a GPU.
    reward_max_batch_tokens: int = Field(default=2048, ge=1)
    generate_max_batch_size: int = 16
    generate_max_wait_ms: float = 10.0
    max_queue_size: int = 1024
    model_poll_seconds: float = 1.0
    # torch intra-op threads for the inference service (unset: the usable CPUs minus one, at least 1).
    inference_torch_threads: int | None = Field(default=None, ge=1)

    @field_validator("database_url")
    @classmethod
    def normalise_database_url(cls, value: str | None) -> str | None:
        # SQLAlchemy's bare "postgresql://" means psycopg2; this project ships psycopg 3.
        if value is None or value == "":
            return None
        for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def refuse_placeholder_secret(self) -> Settings:
        if self.environment == "production":
            if self.admin_token is None or _is_placeholder(self.admin_token):
                raise ValueError(
                    "RLHF_ADMIN_TOKEN must be set to a real secret when RLHF_ENVIRONMENT=production"
                )
            if self.database_url is None or self.redis_url is None:
                raise ValueError("RLHF_DATABASE_URL and RLHF_REDIS_URL are required in production")
        return self

    @property
    def resolved_artifact_dir(self) -> Path:
        return (self.artifact_dir or self.state_dir / "artifacts").resolve()

    @property
    def resolved_lease_max_seconds(self) -> int:
        return self.lease_max_seconds or 3 * self.lease_seconds

    @property
    def resolved_collector_url(self) -> str:
        return (self.collector_url or f"http://{self.host}:{self.collector_port}").rstrip("/")

    @property
    def resolved_inference_url(self) -> str:
        return (self.inference_url or f"http://{self.host}:{self.inference_port}").rstrip("/")

    def resolved_admin_token(self) -> str:
        """The admin token: from the environment, else generated once into the state dir."""
        if self.admin_token:
            return self.admin_token
        token_file = self.state_dir / "admin_token"
        if token_file.exists():
            return token_file.read_text().strip()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        return token


@lru_cache
def get_settings() -> Settings:
    return Settings()
