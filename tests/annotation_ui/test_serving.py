"""The collector serves the form at /annotate: its page, its own files only, with a strict content policy."""

from __future__ import annotations

import re

import httpx

from services.collector.web_form import UI_DIR


def test_page_is_served_with_a_policy_that_runs_only_its_own_scripts(collector_url: str) -> None:
    answer = httpx.get(f"{collector_url}/annotate", params={"token": "anything"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in answer.text  # inline scripts would be refused by the policy


def test_every_file_the_page_loads_is_served_with_its_type(collector_url: str) -> None:
    page = (UI_DIR / "index.html").read_text()
    modules = set(re.findall(r'from "\./([\w.]+)"', (UI_DIR / "app.js").read_text()))
    referenced = set(re.findall(r'(?:src|href)="/annotate/([\w.]+)"', page)) | modules
    assert {"app.js", "app.css", "api.js", "render.js"} <= referenced
    for name in referenced:
        answer = httpx.get(f"{collector_url}/annotate/{name}")
        assert answer.status_code == 200, name
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert answer.headers["content-type"].startswith(expected), name


def test_nothing_else_in_the_package_directory_is_served(collector_url: str) -> None:
    for name in ("__init__.py", "index.html", "..%2Fpyproject.toml", "missing.js"):
        assert httpx.get(f"{collector_url}/annotate/{name}").status_code == 404, name


def test_trailing_slash_link_keeps_its_token(collector_url: str) -> None:
    answer = httpx.get(f"{collector_url}/annotate/", params={"token": "t", "dataset": "2"})
    assert answer.status_code == 307
    assert answer.headers["location"].endswith("/annotate?token=t&dataset=2")
