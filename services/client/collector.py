"""CollectorClient: the collector's HTTP API as typed Python calls, for everything that talks to it from outside
(the CLI, `rlhf demo`, the benchmarks, scripts). Answers are the API's own schemas (services/collector/schemas.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from services.client.model_calls import API, ModelCalls
from services.client.sources import admin_sources
from services.collector.quality_schemas import AnnotatorQualitiesPublic, AnnotatorQualityPublic, GoldPublic
from services.collector.schemas import (
    AnnotatorCreated,
    AnnotatorPublic,
    AnnotatorsPublic,
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeysPublic,
    AssignmentPublic,
    DatasetPublic,
    DatasetsPublic,
    ImportResultPublic,
    JobKindsPublic,
    JobPublic,
    JobsPublic,
    MePublic,
    PreferencePublic,
)
from services.collector.stats_schemas import StatsPublic
from services.core.enums import (
    ApiKeyScope,
    Choice,
    DatasetKind,
    ExportFormat,
    ImportFormat,
    JobKind,
    JobStatus,
    Sampling,
    SourceFilter,
)
from services.core.settings import Settings, get_settings


class CollectorClient(ModelCalls):
    """One bearer token (the admin's, an API key, or an annotator's) and the collector's URL.

    Every error is a CollectorError that names the request, the answer, and where the URL and the token
    came from (`url_source`, `token_source`): what a user needs to tell a wrong token from a wrong server.
    """

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, timeout: float = 60.0) -> CollectorClient:
        """The admin's client: the URL from RLHF_COLLECTOR_URL (else RLHF_HOST and RLHF_COLLECTOR_PORT), the
        token from RLHF_ADMIN_TOKEN (else the file in the state dir)."""
        settings = settings or get_settings()
        url_source, token_source = admin_sources(settings)
        return cls(
            settings.resolved_collector_url,
            settings.resolved_admin_token(),
            url_source=url_source,
            token_source=token_source,
            timeout=timeout,
        )

    def as_token(self, token: str, *, token_source: str) -> CollectorClient:
        """Another client for the same collector with another token (an annotator's, say)."""
        return CollectorClient(
            self.base_url,
            token,
            url_source=self.url_source,
            token_source=token_source,
            timeout=self.http.timeout.read or 60.0,
        )

    # --- datasets, comparisons, imports, exports, stats -----------------------------------------------

    def list_datasets(self) -> list[DatasetPublic]:
        return self._get(f"{API}/datasets", DatasetsPublic).data

    def get_dataset(self, dataset_id: int) -> DatasetPublic:
        return self._get(f"{API}/datasets/{dataset_id}", DatasetPublic)

    def find_dataset(self, name: str) -> DatasetPublic | None:
        return next((dataset for dataset in self.list_datasets() if dataset.name == name), None)

    def create_dataset(
        self,
        name: str,
        *,
        kind: DatasetKind = DatasetKind.PREFERENCE,
        guidelines: str = "",
        annotations_per_comparison: int = 1,
        gold_rate: float = 0.0,
        sampling: Sampling = Sampling.SEQUENTIAL,
        reward: str | None = None,
    ) -> DatasetPublic:
        body: dict[str, Any] = {"name": name, "kind": kind.value, "guidelines": guidelines, "reward": reward}
        body |= {"annotations_per_comparison": annotations_per_comparison, "gold_rate": gold_rate}
        return self._post(f"{API}/datasets", DatasetPublic, json=body | {"sampling": sampling.value})

    def update_dataset(self, dataset_id: int, changes: dict[str, Any]) -> DatasetPublic:
        """PATCH the dataset's settings: the fields in `changes` (a reward of None: back to `default`)."""
        return DatasetPublic.model_validate(
            self._request("PATCH", f"{API}/datasets/{dataset_id}", json=changes).json()
        )

    def delete_dataset(self, dataset_id: int) -> None:
        """Delete a dataset with its comparisons and votes (refused, 409, while an unfinished job uses it)."""
        self._request("DELETE", f"{API}/datasets/{dataset_id}")

    def add_comparisons(self, dataset_id: int, items: list[dict[str, Any]]) -> list[int]:
        answer = self._request("POST", f"{API}/datasets/{dataset_id}/comparisons", json={"items": items})
        return [int(comparison_id) for comparison_id in answer.json()["ids"]]

    def import_jsonl(
        self,
        dataset_id: int,
        body: bytes | Iterable[bytes],
        *,
        format: ImportFormat,
        with_preferences: bool = False,
        dedupe: bool = True,
    ) -> ImportResultPublic:
        """Import a JSONL body (bytes, or chunks streamed as they are read) into a dataset."""
        return self._post(
            f"{API}/datasets/{dataset_id}/import",
            ImportResultPublic,
            params=_import_params(format, with_preferences, dedupe),
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
        )

    def create_and_import(
        self,
        name: str,
        body: bytes | Iterable[bytes],
        *,
        format: ImportFormat,
        kind: DatasetKind | None = None,
        with_preferences: bool = False,
        dedupe: bool = True,
    ) -> ImportResultPublic:
        """Create a dataset and import into it, in one transaction (kind None: the file's first row's)."""
        params = _import_params(format, with_preferences, dedupe) | {"name": name}
        if kind is not None:
            params["kind"] = kind.value
        return self._post(
            f"{API}/datasets/import",
            ImportResultPublic,
            params=params,
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
        )

    def set_gold(self, comparison_id: int, gold: str | None) -> GoldPublic:
        """Mark a comparison as gold with its known answer (a, b, tie), or (None) make it ordinary again."""
        return self._put(f"{API}/comparisons/{comparison_id}/gold", GoldPublic, json={"gold": gold})

    @contextmanager
    def export(
        self,
        dataset_id: int,
        *,
        format: ExportFormat,
        min_trust: float | None = None,
        include_gold: bool = False,
        source: SourceFilter = SourceFilter.HUMAN,
    ) -> Iterator[Iterator[bytes]]:
        """`with client.export(id, format=...) as chunks:` the JSONL export, streamed."""
        url = f"{API}/datasets/{dataset_id}/export"
        params: dict[str, Any] = {
            "format": format.value,
            "include_gold": str(include_gold).lower(),
            "source": source.value,
        }
        if min_trust is not None:
            params["min_trust"] = min_trust
        with self.http.stream("GET", url, params=params) as response:
            if response.is_error:
                response.read()
                raise self._error(response)
            yield response.iter_bytes()

    def stats(self, dataset_id: int, *, source: SourceFilter = SourceFilter.HUMAN) -> StatsPublic:
        return self._get(f"{API}/datasets/{dataset_id}/stats?source={source.value}", StatsPublic)

    def annotator_quality(self, dataset_id: int) -> list[AnnotatorQualityPublic]:
        """Per annotator on the dataset: gold accuracy, agreement, timing, position bias, trust, pause."""
        return self._get(f"{API}/datasets/{dataset_id}/annotators", AnnotatorQualitiesPublic).data

    def lift_pause(self, dataset_id: int, annotator_id: int) -> list[AnnotatorQualityPublic]:
        url = f"{API}/datasets/{dataset_id}/annotators/{annotator_id}/unpause"
        return self._post(url, AnnotatorQualitiesPublic).data

    # --- API keys -------------------------------------------------------------------------------------

    def create_api_key(
        self, name: str, scopes: list[ApiKeyScope], *, expires_at: datetime | None = None
    ) -> ApiKeyCreated:
        """Issue an API key with these scopes; the answer carries the key, shown once."""
        body: dict[str, Any] = {"name": name, "scopes": [scope.value for scope in scopes]}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        return self._post(f"{API}/api-keys", ApiKeyCreated, json=body)

    def list_api_keys(self) -> list[ApiKeyPublic]:
        return self._get(f"{API}/api-keys", ApiKeysPublic).data

    def revoke_api_key(self, key_id: int) -> None:
        self._request("DELETE", f"{API}/api-keys/{key_id}")

    # --- annotators and annotation --------------------------------------------------------------------

    def create_annotator(
        self, name: str, *, expires_at: datetime | None = None, datasets: list[int] | None = None
    ) -> AnnotatorCreated:
        """Issue an annotator (every dataset unless `datasets`); the answer carries their token, shown once."""
        body: dict[str, Any] = {"name": name, "datasets": datasets}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        return self._post(f"{API}/annotators", AnnotatorCreated, json=body)

    def list_annotators(self) -> list[AnnotatorPublic]:
        return self._get(f"{API}/annotators", AnnotatorsPublic).data

    def get_annotator(self, annotator_id: int) -> AnnotatorPublic:
        return self._get(f"{API}/annotators/{annotator_id}", AnnotatorPublic)

    def revoke_annotator(self, annotator_id: int) -> AnnotatorPublic:
        return self._post(f"{API}/annotators/{annotator_id}/revoke", AnnotatorPublic)

    def rotate_annotator_token(
        self, annotator_id: int, *, expires_at: datetime | None | Literal["keep"] = "keep"
    ) -> AnnotatorCreated:
        """A new token for the annotator (the old one stops working); the expiry is kept unless given."""
        body = {} if expires_at == "keep" else {"expires_at": expires_at and expires_at.isoformat()}
        return self._post(f"{API}/annotators/{annotator_id}/token", AnnotatorCreated, json=body)

    def assign_datasets(self, annotator_id: int, datasets: list[int] | None) -> AnnotatorPublic:
        """Set the datasets the annotator may work on; None: every dataset."""
        return self._put(
            f"{API}/annotators/{annotator_id}/datasets", AnnotatorPublic, json={"datasets": datasets}
        )

    def sign_in_link(self, token: str, *, dataset_id: int | None = None, base_url: str | None = None) -> str:
        """The web form's sign-in link for a token (the form moves the token out of the address bar)."""
        query = {"token": token} | ({"dataset": str(dataset_id)} if dataset_id is not None else {})
        return f"{(base_url or self.base_url).rstrip('/')}/annotate?{urlencode(query)}"

    def me(self) -> MePublic:
        return self._get(f"{API}/me", MePublic)

    def next_comparison(self, dataset_id: int) -> AssignmentPublic | None:
        """The comparison leased to this annotator; None when nothing is left to judge (204)."""
        response = self._request("GET", f"{API}/datasets/{dataset_id}/next")
        return None if response.status_code == 204 else AssignmentPublic.model_validate(response.json())

    def vote(
        self, comparison_id: int, choice: Choice, *, idempotency_key: str | None = None, **fields: Any
    ) -> PreferencePublic:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._post(
            f"{API}/comparisons/{comparison_id}/preferences",
            PreferencePublic,
            json={"choice": choice.value, **fields},
            headers=headers,
        )

    # --- jobs (model versions and named rewards: ModelCalls) ----------------------------------------------------------------------

    def submit_job(
        self,
        kind: JobKind,
        dataset_id: int,
        *,
        base_model: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> JobPublic:
        """Queue a job; the answer is the stored job (status queued)."""
        body: dict[str, Any] = {"kind": kind.value, "dataset_id": dataset_id, "params": params or {}}
        if base_model is not None:
            body["base_model"] = base_model
        queued = self._request("POST", f"{API}/jobs", json=body).json()
        return self.get_job(int(queued["id"]))

    def get_job(self, job_id: int) -> JobPublic:
        return self._get(f"{API}/jobs/{job_id}", JobPublic)

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        kind: JobKind | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> JobsPublic:
        query: dict[str, Any] = {"limit": limit, "offset": offset}
        if status is not None:
            query["status"] = status.value
        if kind is not None:
            query["kind"] = kind.value
        return self._get(f"{API}/jobs", JobsPublic, params=query)

    def cancel_job(self, job_id: int) -> JobPublic:
        return self._post(f"{API}/jobs/{job_id}/cancel", JobPublic)

    def follow(
        self,
        job_id: int,
        *,
        poll_seconds: float = 1.0,
        on_update: Callable[[JobPublic], None] | None = None,
    ) -> JobPublic:
        """Poll a job until it finishes; `on_update` sees every state on the way. Returns the final state."""
        while True:
            job = self.get_job(job_id)
            if on_update is not None:
                on_update(job)
            if job.status.finished:
                return job
            time.sleep(poll_seconds)

    def job_kinds(self) -> JobKindsPublic:
        return self._get(f"{API}/job-kinds", JobKindsPublic)


def _import_params(format: ImportFormat, with_preferences: bool, dedupe: bool) -> dict[str, str]:
    return {
        "format": format.value,
        "with_preferences": str(with_preferences).lower(),
        "dedupe": str(dedupe).lower(),
    }
