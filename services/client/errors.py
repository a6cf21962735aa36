"""The one error a CollectorClient raises."""

from __future__ import annotations

from typing import Any


class CollectorError(Exception):
    """A request that failed: refused by the collector (`status_code`, its `detail`) or that never reached it
    (status_code None). `request` names the method and URL, `url_source` where that URL came from, `token_source`
    where the bearer token came from."""

    def __init__(
        self,
        message: str,
        *,
        request: str,
        token_source: str,
        url_source: str = "given",
        status_code: int | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(f"{message} ({request}; URL from {url_source}; token from {token_source})")
        self.message = message
        self.request = request
        self.url_source = url_source
        self.token_source = token_source
        self.status_code = status_code
        self.detail = detail


class RewardServiceError(Exception):
    """A `POST /reward` that failed: refused by the inference service (`status_code`) or that never reached it
    (status_code None). `retryable` says whether asking again may help (overloaded, unavailable, unreachable)."""

    def __init__(self, message: str, *, status_code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable
