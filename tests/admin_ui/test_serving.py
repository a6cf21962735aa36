"""The collector serves the console at /admin: its page, its own files only, with a strict content policy."""

from __future__ import annotations

import re

import httpx

from services.collector.admin_console import UI_DIR


def test_page_is_served_with_a_policy_that_runs_only_its_own_scripts(collector_url: str) -> None:
    answer = httpx.get(f"{collector_url}/admin")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "img-src 'self' data: blob:;" in policy and "connect-src 'self'" in policy
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in answer.text


def test_every_module_the_page_loads_is_served_with_its_type(collector_url: str) -> None:
    page = (UI_DIR / "index.html").read_text()
    referenced = set(re.findall(r'(?:src|href)="/admin/([\w.]+)"', page))
    shared = set()
    for script in UI_DIR.glob("*.js"):
        source = script.read_text()
        referenced |= set(re.findall(r'from "\./([\w.]+)"', source))
        shared |= set(re.findall(r'from "(/annotate/[\w.]+)"', source))
    assert {"main.js", "admin.css", "datasets.js", "jobs.js", "models.js", "annotators.js"} <= referenced
    assert referenced == {path.name for path in UI_DIR.glob("*.js")} | {"admin.css"}
    for name in referenced:
        answer = httpx.get(f"{collector_url}/admin/{name}")
        assert answer.status_code == 200, name
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert answer.headers["content-type"].startswith(expected), name
    for path in shared:
        assert httpx.get(f"{collector_url}{path}").status_code == 200, path


def test_nothing_else_in_the_package_directory_is_served(collector_url: str) -> None:
    for name in ("__init__.py", "index.html", "..%2Fpyproject.toml", "missing.js"):
        assert httpx.get(f"{collector_url}/admin/{name}").status_code == 404, name


def test_source_never_renders_html() -> None:
    for script in UI_DIR.glob("*.js"):
        source = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{script.name} uses {sink}"
