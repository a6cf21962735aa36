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
