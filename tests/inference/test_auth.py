"""The inference service with RLHF_INFERENCE_AUTH=on: the admin token or an `infer` API key, checked before the
body is read; /health open; refusals (and the guard's 413) in each route family's shape; /info shows paths
relative to the artifact dir. With auth off (the other tests' servers), tokens are ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from openai import AuthenticationError, OpenAI

from services.core.orm import ModelVersion
from tests.helpers.collector import unique
from tests.helpers.inference import wait_for
from tests.helpers.raw_http import connect, read_response, send_head
from tests.helpers.servers import start_inference

GENERATE = {"inputs": "The river", "parameters": {"max_new_tokens": 2}}


@pytest.fixture(scope="module")
def guarded_url(inference_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {**inference_env, "RLHF_INFERENCE_AUTH": "on", "RLHF_MAX_BODY_BYTES": "5000"}
    server, url = start_inference(env, tmp_path_factory.mktemp("guarded") / "inference.log")
    try:
        yield url
    finally:
        server.stop()


def _key(admin: httpx.Client, *scopes: str) -> dict:
    return (
        admin.post("/api/v1/api-keys", json={"name": unique("key"), "scopes": list(scopes)})
        .raise_for_status()
        .json()
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/generate", "/reward", "/info", "/metrics", "/v1/models"])
def test_every_route_but_health_needs_a_token(guarded_url: str, path: str) -> None:
    method = "POST" if path in ("/generate", "/reward") else "GET"
    response = httpx.request(method, guarded_url + path, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert httpx.get(guarded_url + "/health").status_code == 200


def test_refusals_come_in_each_family_shape(guarded_url: str) -> None:
    tgi = httpx.post(guarded_url + "/generate", json=GENERATE, headers=_bearer("wrong")).json()
    assert tgi["error_type"] == "unauthorized" and tgi["error"] == tgi["detail"]
    openai = httpx.post(guarded_url + "/v1/completions", json={}, headers=_bearer("wrong")).json()
    assert openai["error"]["type"] == "authentication_error" and openai["error"]["message"]


def test_a_large_unauthenticated_body_is_refused_before_it_is_sent(guarded_url: str) -> None:
    with connect(guarded_url) as sock:
        send_head(
            sock,
            "POST",
            "/generate",
            {"Content-Type": "application/json", "Content-Length": str(500 * 2**20)},
        )
        response = read_response(sock)
    assert response.status == 401


def test_infer_key_and_admin_token_reach_the_model_routes(
    guarded_url: str, admin: httpx.Client, admin_token: str
) -> None:
    infer = _key(admin, "infer")["key"]
    for token in (infer, admin_token, _key(admin, "admin")["key"]):
        answer = httpx.post(guarded_url + "/generate", json=GENERATE, headers=_bearer(token), timeout=120)
        assert answer.status_code == 200, answer.text
    with OpenAI(base_url=f"{guarded_url}/v1", api_key=infer, max_retries=0) as client:
        assert client.models.list().data
    with (
        OpenAI(base_url=f"{guarded_url}/v1", api_key="unused", max_retries=0) as client,
        pytest.raises(AuthenticationError),
    ):
        client.models.list()


def test_a_key_without_infer_is_403_and_a_revoked_one_401(guarded_url: str, admin: httpx.Client) -> None:
    reader = _key(admin, "read", "train")
    refused = httpx.post(guarded_url + "/generate", json=GENERATE, headers=_bearer(reader["key"]))
    assert refused.status_code == 403 and refused.json()["error_type"] == "forbidden"
    infer = _key(admin, "infer")
    assert httpx.get(guarded_url + "/info", headers=_bearer(infer["key"])).status_code == 200
    admin.delete(f"/api/v1/api-keys/{infer['id']}").raise_for_status()
    revoked = httpx.get(guarded_url + "/info", headers=_bearer(infer["key"]))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_get_reward_takes_the_key_in_its_query(guarded_url: str, admin: httpx.Client) -> None:
    key = _key(admin, "infer")["key"]
    assert httpx.post(guarded_url + "/get_reward", json={}).status_code == 401
    # Past the guard: whatever the route answers, it is not a refusal of the key.
    assert httpx.post(guarded_url + f"/get_reward?api_key={key}", json={}).status_code not in (401, 403)
    assert httpx.post(guarded_url + f"/reward?api_key={key}", json={}).status_code == 401  # only /get_reward


def test_body_over_the_limit_is_413_in_each_family_shape(guarded_url: str, admin_token: str) -> None:
    big = {"inputs": "x" * 6000}
    tgi = httpx.post(guarded_url + "/generate", json=big, headers=_bearer(admin_token))
    assert tgi.status_code == 413 and tgi.json()["error_type"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "policy", "prompt": "' + b"x" * 4000
        yield b"x" * 4000 + b'"}'

    openai = httpx.post(
        guarded_url + "/v1/completions",
        content=chunks(),
        headers={**_bearer(admin_token), "content-type": "application/json"},
    )
    assert openai.status_code == 413
    assert "5000 bytes" in openai.json()["error"]["message"]


def test_info_shows_paths_relative_to_the_artifact_dir(
    guarded_url: str,
    admin_token: str,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
) -> None:
    version = make_version("reward", seed=3)
    promote(version.id)
    with httpx.Client(base_url=guarded_url, headers=_bearer(admin_token)) as client:
        info = wait_for(
            lambda: (
                (found := client.get("/info").json())["reward"]
                and found["reward"]["name"] == version.name
                and found
            ),
            what="the promoted reward model",
        )
    assert info["reward"]["path"] == version.path  # tests/<name>, not the server's absolute path
    assert (
        info["policy"]["path"] is None
    )  # the default policy lies outside the store: its name says what it is


def test_with_auth_off_any_token_is_ignored(inference: httpx.Client) -> None:
    assert inference.post("/generate", json=GENERATE, headers=_bearer("unused")).status_code == 200
