from collections.abc import Callable
from typing import Any

import httpx

from services.core.net import answers


def test_health_answers_ok_with_its_instance(collector_url: str) -> None:
    # The session's collector was not started by `rlhf up`, so it names no instance.
    assert httpx.get(collector_url + "/health").json() == {"status": "ok", "instance": None}


def test_a_health_check_for_an_instance_refuses_another_server(collector_url: str) -> None:
    """`rlhf up` waits for its own services: another stack answering on the port is not taken for one."""
    assert answers(collector_url + "/health")
    assert not answers(collector_url + "/health", instance="another-stack")


def test_metrics_exposes_prometheus_text(collector_url: str) -> None:
    httpx.get(collector_url + "/health")
    response = httpx.get(collector_url + "/metrics")
    assert response.status_code == 200
    assert "rlhf_http_requests_total" in response.text


def test_metrics_label_the_annotators_requests_by_route_as_the_others_are(
    collector_url: str, make_dataset: Callable[..., dict[str, Any]], make_annotator: Callable[..., Any]
) -> None:
    """The annotator's plain routes (services/collector/plain_routes.py) are labelled without /api/v1, as
    FastAPI labels the collector's other routes."""
    dataset = make_dataset(1)
    person = make_annotator()
    comparison = person.get(f"/api/v1/datasets/{dataset['id']}/next").json()["comparison_id"]
    person.post(f"/api/v1/comparisons/{comparison}/preferences", json={"choice": "a"}).raise_for_status()
    text = httpx.get(collector_url + "/metrics").text
    for method, route, code in (
        ("GET", "/datasets/{dataset_id}/next", "200"),
        ("POST", "/comparisons/{comparison_id}/preferences", "201"),
        ("POST", "/datasets", "201"),
    ):
        assert f'method="{method}",route="{route}",service="collector",status="{code}"' in text, route
