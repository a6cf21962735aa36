"""Every field of every inference route (TGI's, OpenAI's, /reward), fed a lone surrogate, a NUL, 10^30 or NaN
(tests/helpers/openapi_fuzz.py): never a 5xx, never a written row, and the error in the route family's shape."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy.orm import Session

from services.core.orm import ModelVersion
from services.inference.app import app
from tests.helpers.collector import table_counts
from tests.helpers.inference import wait_serving
from tests.helpers.openapi_fuzz import fuzz_requests

# Short answers: a bad value the service accepts generates two tokens, not a hundred.
KNOWN = {"max_new_tokens": 2, "max_tokens": 2, "model": "policy", "role": "user"}


def _shaped(path: str, body: object) -> bool:
    """The error body of the route family (services/inference/errors.py)."""
    if not isinstance(body, dict):
        return False
    if path.startswith("/v1/"):
        return isinstance(body.get("error"), dict) and isinstance(body["error"].get("message"), str)
    return isinstance(body.get("error"), str) and isinstance(body.get("error_type"), str)


def test_hostile_values_in_any_field_answer_4xx_in_shape(
    chat_inference: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
    db: Session,
) -> None:
    reward = make_version("reward", seed=11)
    promote(reward.id)
    wait_serving(chat_inference, "reward", reward.name)
    failures = []
    for case in fuzz_requests(app.openapi(), KNOWN):
        before = table_counts(db)
        try:
            response = chat_inference.request(
                case.method, case.url, content=case.content, headers={"Content-Type": "application/json"}
            )
        except httpx.TransportError as exc:  # a server that drops the connection answers nothing at all
            failures.append(f"{case.name}: {type(exc).__name__}: {exc}")
            continue
        if response.status_code >= 500 or table_counts(db) != before:
            failures.append(f"{case.name}: {response.status_code} {response.text[:200]!r}")
        elif response.status_code >= 400 and not _shaped(case.path, response.json()):
            failures.append(f"{case.name}: {response.status_code} in the wrong shape {response.text[:200]!r}")
    assert not failures, "\n".join(failures)
