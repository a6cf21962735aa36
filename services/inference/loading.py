"""Which models the service answers with, and hot reload when a version is promoted.

The promoted policy and reward versions are read from PostgreSQL every `model_poll_seconds`. A new one
is loaded on the poller thread while the old one keeps serving, then swapped in by a single reference
assignment: a batch takes its model reference when it starts, so requests in flight finish on the old
version and every answer names the version that computed it. With no promoted policy the configured
default (`RLHF_POLICY_MODEL`) serves; with no promoted reward model there is none (HTTP 503).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from prometheus_client import Counter, Gauge
from sqlalchemy.exc import SQLAlchemyError

from services.core.artifacts import version_path
from services.core.db import session_scope
from services.core.enums import ModelKind
from services.core.orm import ModelVersion
from services.core.settings import get_settings
from services.domain import model_versions
from services.modeling.device import device, load_kwargs
from services.modeling.scoring import ScoreHead
from services.modeling.windows import model_window, window_size

logger = logging.getLogger(__name__)


MODEL_LOADS = Counter("rlhf_inference_model_loads_total", "Model loads", ["kind", "outcome"])
MODEL_LOADED = Gauge("rlhf_inference_model_loaded", "1 for the version each kind serves", ["kind", "name"])


@dataclass(frozen=True)
class Target:
    """A model that should be serving: a promoted version, or the default policy."""

    kind: ModelKind
    name: str
    version_id: int | None
    source: Literal["promoted", "default", "reward"]
    path: str
    # When the version was made (None for the default policy).
    created_at: datetime | None = None
    # Which output of a reward model is the score (a registered classifier's label and transform).
    head: ScoreHead = ScoreHead()

    @property
    def key(self) -> tuple[int | None, str]:
        return (self.version_id, self.path)


@dataclass(frozen=True)
class LoadedModel:
    target: Target
    model: Any
    tokenizer: Any
    # The longest input the model takes, in tokens (None: no fixed limit known).
    window: int | None
    device: Any
    pad_token_id: int
    eos_token_ids: frozenset[int]
    special_token_ids: frozenset[int]
    accepts_logits_to_keep: bool
    loaded_at: datetime
    load_seconds: float

    @property
    def name(self) -> str:
        return self.target.name

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.target.name,
            "version_id": self.target.version_id,
            "source": self.target.source,
            "path": _shown_path(self.target.path),
            "architecture": type(self.model).__name__,
            "dtype": str(next(self.model.parameters()).dtype),
            "device": str(self.device),
            "window": self.window,
            "loaded_at": self.loaded_at.isoformat(),
            "load_seconds": round(self.load_seconds, 3),
        }


def _shown_path(path: str) -> str | None:
    """/info shows where a version lies relative to the artifact dir, never the server's own paths (a default
    policy's files are not in the store: its `name` says what it is)."""
    try:
        return str(Path(path).relative_to(get_settings().resolved_artifact_dir))
    except ValueError:
        return None


def version_target(version: ModelVersion, source: Literal["promoted", "reward"]) -> Target:
    """A version as a model to load: promoted, or a component of a named reward."""
    return Target(
        kind=ModelKind(version.kind),
        name=version.name,
        version_id=version.id,
        source=source,
        path=str(version_path(version.path)),
        created_at=version.created_at,
        head=ScoreHead.from_version_params(version.params),
    )


def promoted_targets() -> dict[ModelKind, Target]:
    """The promoted version of each kind, as the database says now."""
    targets: dict[ModelKind, Target] = {}
    with session_scope() as session:
        for kind in ModelKind:
            version = model_versions.promoted(session, kind)
            if version is not None:
                targets[kind] = version_target(version, "promoted")
    return targets


def default_policy_target(policy_model: str) -> Target:
    from services.modeling.base_models import resolve_base_model

    return Target(
        kind=ModelKind.POLICY,
        name=policy_model,
        version_id=None,
        source="default",
        path=resolve_base_model(policy_model),
    )


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in configured if isinstance(configured, list) else [configured]:
        if value is not None:
            ids.add(int(value))
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def _load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    # The first call switches off truncation/padding saved in tokenizer.json, which mutates the Rust
    # tokenizer; done here, before two threads (event loop and worker) can call it at once.
    tokenizer("warm-up")
    return tokenizer


def load_policy(target: Target) -> LoadedModel:
    from transformers import AutoModelForCausalLM

    started = time.monotonic()
    target_device = device()
    tokenizer = _load_tokenizer(target.path)
    model = AutoModelForCausalLM.from_pretrained(target.path, **load_kwargs()).to(target_device).eval()
    eos_ids = _eos_ids(model, tokenizer)
    pad_token_id = tokenizer.pad_token_id
    if pad_token_id is None:
        # Any id will do for padding: padded positions are masked out and never read.
        pad_token_id = min(eos_ids) if eos_ids else 0
    return LoadedModel(
        target=target,
        model=model,
        tokenizer=tokenizer,
        window=model_window(model.config),
        device=target_device,
        pad_token_id=int(pad_token_id),
        eos_token_ids=eos_ids,
        special_token_ids=frozenset(int(i) for i in tokenizer.all_special_ids),
        accepts_logits_to_keep="logits_to_keep" in inspect.signature(model.forward).parameters,
        loaded_at=datetime.now(UTC),
        load_seconds=time.monotonic() - started,
    )


def load_reward(target: Target) -> LoadedModel:
    from transformers import AutoModelForSequenceClassification

    started = time.monotonic()
    target_device = device()
    tokenizer = _load_tokenizer(target.path)
    # Its saved config says how many labels it has: one for a trained reward model, any for a classifier.
    model = AutoModelForSequenceClassification.from_pretrained(target.path, **load_kwargs())
    model = model.to(target_device).eval()
    pad_token_id = tokenizer.pad_token_id
    if pad_token_id is None:
        pad_token_id = tokenizer.eos_token_id
    if model.config.pad_token_id is None:
        # GPT-style classifiers find each row's last real token through the pad id.
        model.config.pad_token_id = pad_token_id
    return LoadedModel(
        target=target,
        model=model,
        tokenizer=tokenizer,
        window=window_size(tokenizer, model_window(model.config)),
        device=target_device,
        pad_token_id=int(pad_token_id if pad_token_id is not None else 0),
        eos_token_ids=frozenset(),
        special_token_ids=frozenset(int(i) for i in tokenizer.all_special_ids),
        accepts_logits_to_keep=False,
        loaded_at=datetime.now(UTC),
        load_seconds=time.monotonic() - started,
    )


LOADERS = {ModelKind.POLICY: load_policy, ModelKind.REWARD: load_reward}


@dataclass
class LoadFailure:
    target: Target
    error: str
    at: datetime


class ModelRegistry:
    """The models serving now, one per kind; `refresh()` brings them in line with the database."""

    def __init__(self, *, policy_model: str, poll_seconds: float) -> None:
        self.policy_model = policy_model
        self.poll_seconds = poll_seconds
        self._serving: dict[ModelKind, LoadedModel | None] = {kind: None for kind in ModelKind}
        self._loading: dict[ModelKind, Target | None] = {kind: None for kind in ModelKind}
        self._failures: dict[ModelKind, LoadFailure | None] = {kind: None for kind in ModelKind}
        self.last_poll_error: str | None = None
        self.last_poll_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def serving(self, kind: ModelKind) -> LoadedModel | None:
        return self._serving[kind]

    def loading(self, kind: ModelKind) -> Target | None:
        return self._loading[kind]

    def failure(self, kind: ModelKind) -> LoadFailure | None:
        return self._failures[kind]

    def start(self) -> None:
        """Load what is promoted now (blocking: the service starts serving with its models), then poll."""
        self.refresh()
        self._thread = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the poller must outlive one bad round; the next retries
                logger.exception("model refresh failed")

    def refresh(self) -> None:
        try:
            targets = promoted_targets()
            self.last_poll_error = None
        except SQLAlchemyError as exc:
            # Keep serving what is loaded; the next poll asks again.
            self.last_poll_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            logger.warning("cannot read promoted versions: %s", self.last_poll_error)
            if self._serving[ModelKind.POLICY] is not None:
                return
            targets = {}
        self.last_poll_at = datetime.now(UTC)
        policy = targets.get(ModelKind.POLICY)
        if policy is None:
            current = self._serving[ModelKind.POLICY]
            if current is not None and current.target.source == "default":
                policy = current.target
            else:
                policy = self._resolve_default_policy()
        if policy is not None:  # None: the default cannot be resolved (in /info); keep what serves
            self._ensure(ModelKind.POLICY, policy)
        self._ensure(ModelKind.REWARD, targets.get(ModelKind.REWARD))

    def _resolve_default_policy(self) -> Target | None:
        failure = self._failures[ModelKind.POLICY]
        if failure is not None and failure.target.source == "default":
            return None  # reported once in /info; retrying every poll would only fill the log
        try:
            return default_policy_target(self.policy_model)
        except Exception as exc:  # noqa: BLE001 - a bad RLHF_POLICY_MODEL is reported in /info, not fatal
            target = Target(ModelKind.POLICY, self.policy_model, None, "default", self.policy_model)
            self._record_failure(target, exc)
            return None

    def _record_failure(self, target: Target, exc: BaseException) -> None:
        logger.error("cannot load %s model %s: %s", target.kind, target.name, exc)
        MODEL_LOADS.labels(target.kind, "failed").inc()
        self._failures[target.kind] = LoadFailure(target, f"{type(exc).__name__}: {exc}", datetime.now(UTC))

    def _ensure(self, kind: ModelKind, target: Target | None) -> None:
        current = self._serving[kind]
        failure = self._failures[kind]
        if failure is not None and (target is None or failure.target.key != target.key):
            self._failures[kind] = None  # about a version that is no longer wanted
        if target is None:
            if current is not None and current.target.source == "promoted":
                logger.info("no %s version is promoted any more; %s stops serving", kind, current.name)
                self._switch(kind, None)
            return
        if current is not None and current.target.key == target.key:
            return
        if self._failures[kind] is not None:
            return  # it failed already; a newer promotion (another key) is tried, this one is not retried
        self._loading[kind] = target
        try:
            loaded = LOADERS[kind](target)
        except Exception as exc:  # noqa: BLE001 - the previous version keeps serving; /info shows the error
            self._record_failure(target, exc)
            return
        finally:
            self._loading[kind] = None
        MODEL_LOADS.labels(kind, "loaded").inc()
        self._failures[kind] = None
        logger.info("%s model %s loaded in %.1fs", kind, target.name, loaded.load_seconds)
        self._switch(kind, loaded)

    def _switch(self, kind: ModelKind, loaded: LoadedModel | None) -> None:
        previous = self._serving[kind]
        self._serving[kind] = loaded  # the atomic switch
        if previous is not None:
            MODEL_LOADED.labels(kind, previous.name).set(0)
        if loaded is not None:
            MODEL_LOADED.labels(kind, loaded.name).set(1)

    def describe(self) -> dict[str, Any]:
        def one(kind: ModelKind) -> dict[str, Any] | None:
            loaded = self._serving[kind]
            return loaded.describe() if loaded is not None else None

        return {
            "policy": one(ModelKind.POLICY),
            "reward": one(ModelKind.REWARD),
            "loading": {
                kind: (target.name if (target := self._loading[kind]) is not None else None)
                for kind in ModelKind
            },
            "load_errors": {
                kind: (
                    {"name": failure.target.name, "error": failure.error, "at": failure.at.isoformat()}
                    if (failure := self._failures[kind]) is not None
                    else None
                )
                for kind in ModelKind
            },
            "last_poll_at": self.last_poll_at.isoformat() if self.last_poll_at else None,
            "last_poll_error": self.last_poll_error,
        }
