"""The HTTP side of CollectorClient (services/client/collector.py): one httpx client with a bearer token,
and every failure as a CollectorError that says which request, which URL source and which token source."""

from __future__ import annotations

from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from services.client.errors import CollectorError

SchemaT = TypeVar("SchemaT", bound=BaseModel)


class CollectorTransport:
    """The connection to one collector with one token; the typed calls are CollectorClient's."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        url_source: str = "given",
        token_source: str = "given",
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url_source = url_source
        self.token_source = token_source
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, schema: type[SchemaT], **kwargs: Any) -> SchemaT:
        return schema.model_validate(self._request("GET", path, **kwargs).json())

    def _post(self, path: str, schema: type[SchemaT], **kwargs: Any) -> SchemaT:
        return schema.model_validate(self._request("POST", path, **kwargs).json())

    def _put(self, path: str, schema: type[SchemaT], **kwargs: Any) -> SchemaT:
        return schema.model_validate(self._request("PUT", path, **kwargs).json())

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise CollectorError(
                f"cannot reach the collector ({type(error).__name__}: {error}); its URL came from {self.url_source}",
                request=f"{method} {self.base_url}{path}",
                url_source=self.url_source,
                token_source=self.token_source,
            ) from error
        if response.is_error:
            raise self._error(response)
        return response

    def _error(self, response: httpx.Response) -> CollectorError:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        return CollectorError(
            f"error {response.status_code}: {detail}",
            request=f"{response.request.method} {response.request.url}",
            url_source=self.url_source,
            token_source=self.token_source,
            status_code=response.status_code,
            detail=detail,
        )
