import httpx


def test_health_answers_ok(collector_url: str) -> None:
    assert httpx.get(collector_url + "/health").json() == {"status": "ok"}


def test_metrics_exposes_prometheus_text(collector_url: str) -> None:
    httpx.get(collector_url + "/health")
    response = httpx.get(collector_url + "/metrics")
    assert response.status_code == 200
    assert "rlhf_http_requests_total" in response.text
