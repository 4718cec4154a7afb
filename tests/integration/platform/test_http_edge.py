"""The HTTP edge (issue 14, findings 3 and 17): bodies are limited before they are read,
uploads authenticate before the form is parsed, and every response carries the security
headers; the API docs load nothing from another origin."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from fastapi import FastAPI

from nmrx.app import create_app
from nmrx.platform.bootstrap import Container
from tests.support.asgi import run_in_own_loop
from tests.support.builders import api_client, bearer, browser_login, make_token, make_user

MB = 1024 * 1024
FILE_PART = (
    b'--x\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n'
    b"Content-Type: text/csv\r\n\r\n"
)
WEB = Path(__file__).resolve().parents[3] / "src" / "nmrx" / "web"


class Wire:
    """An ASGI client that counts every body byte the app pulls with ``receive``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def post(
        self,
        path: str,
        *,
        size: int,
        chunk: int = MB,
        declare_length: bool = True,
        headers: dict[str, str] | None = None,
        query: str = "",
        content_type: str = "application/json",
        prefix: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes, int]:
        """POST ``size`` bytes in ``chunk``-sized messages; returns (status, headers, body,
        bytes the app received)."""
        sent = {"bytes": 0}
        out: list[dict] = []
        raw_headers = [(b"host", b"testserver"), (b"content-type", content_type.encode())]
        if declare_length:
            raw_headers.append((b"content-length", str(size).encode()))
        else:
            raw_headers.append((b"transfer-encoding", b"chunked"))
        for k, v in (headers or {}).items():
            raw_headers.append((k.lower().encode(), v.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        block = b"x" * chunk

        async def receive() -> dict:
            left = size - sent["bytes"]
            if left <= 0:
                await asyncio.sleep(0)
                return {"type": "http.disconnect"}
            n = min(chunk, left)
            data = (prefix + block)[:n] if sent["bytes"] == 0 else block[:n]
            sent["bytes"] += n
            return {"type": "http.request", "body": data, "more_body": sent["bytes"] < size}

        async def send(message: dict) -> None:
            out.append(message)

        run_in_own_loop(self.app(scope, receive, send))
        start = next(m for m in out if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in out if m["type"] == "http.response.body")
        hdrs = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], hdrs, body, sent["bytes"]


def test_a_100_mb_upload_is_refused_on_its_length_before_a_byte_is_read(
    container: Container,
) -> None:
    wire = Wire(create_app(container))
    status, headers, body, read = wire.post(
        "/api/v1/models/1/uploads", size=100 * MB, content_type="multipart/form-data; boundary=x"
    )
    assert status == 413
    assert read == 0
    assert json.loads(body) == {
        "error": "the request is too large: a predictions file may be at most 50 MB"
    }
    assert headers["content-type"] == "application/json"


def test_a_streamed_body_is_cut_off_at_the_limit(container: Container) -> None:
    """Chunked (no Content-Length): the app stops pulling once the count passes the limit."""
    wire = Wire(create_app(container))
    seller = make_token(container, make_user(container), scopes="upload")
    status, _, body, read = wire.post(
        "/api/v1/models/1/uploads",
        size=100 * MB,
        declare_length=False,
        headers=bearer(seller),
        content_type="multipart/form-data; boundary=x",
        prefix=FILE_PART,
    )
    assert status == 413
    assert read <= 50 * MB + 64 * 1024 + MB  # the limit plus the chunk that crossed it
    assert b"at most 50 MB" in body

    status, _, body, read = wire.post(
        "/api/v1/orders", size=100 * MB, chunk=16 * 1024, declare_length=False
    )
    assert status == 413
    assert read <= 64 * 1024 + 16 * 1024
    assert json.loads(body) == {
        "error": "the request is too large: a request body may be at most 64 KB"
    }


def test_json_and_form_bodies_are_small(container: Container) -> None:
    wire = Wire(create_app(container))
    status, _, body, read = wire.post("/api/v1/orders", size=60 * MB)
    assert (status, read) == (413, 0)
    assert b"at most 64 KB" in body
    # an HTML form gets an HTML page
    status, headers, body, read = wire.post(
        "/login", size=MB, content_type="application/x-www-form-urlencoded"
    )
    assert (status, read) == (413, 0)
    assert headers["content-type"].startswith("text/html")
    assert b"a request body may be at most 64 KB" in body
    # a small body still passes
    client = api_client(container)
    r = client.post("/api/v1/login", json={"username": "nobody", "password": "x" * 1000})
    assert r.status_code != 413


def test_an_upload_authenticates_before_reading_the_form(container: Container) -> None:
    """Anonymous or wrong-scope multipart bodies are refused with not a byte of them read
    (FastAPI parses File/Form parameters before any dependency runs)."""
    wire = Wire(create_app(container))
    status, _, _, read = wire.post(
        "/api/v1/models/1/uploads", size=10 * MB, content_type="multipart/form-data; boundary=x"
    )
    assert (status, read) == (401, 0)

    user = make_user(container)
    reader = make_token(container, user, scopes="read")
    status, _, _, read = wire.post(
        "/api/v1/models/1/uploads",
        size=10 * MB,
        headers=bearer(reader),
        content_type="multipart/form-data; boundary=x",
    )
    assert (status, read) == (403, 0)


def test_the_web_upload_checks_login_and_csrf_before_reading_the_form(
    container: Container,
) -> None:
    wire = Wire(create_app(container))
    status, headers, _, read = wire.post(
        "/sell/models/1/upload", size=10 * MB, content_type="multipart/form-data; boundary=x"
    )
    assert (status, read) == (303, 0)
    assert headers["location"].startswith("/login")

    user = make_user(container)
    browser = browser_login(container, user.username)
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    status, _, _, read = wire.post(
        "/sell/models/1/upload",
        size=10 * MB,
        headers={"cookie": cookie},
        content_type="multipart/form-data; boundary=x",
    )
    assert (status, read) == (403, 0)  # no CSRF token in the header or the URL
    status, _, _, read = wire.post(
        "/sell/models/1/upload",
        size=10 * MB,
        headers={"cookie": cookie},
        query="csrf_token=forged",
        content_type="multipart/form-data; boundary=x",
    )
    assert (status, read) == (403, 0)


def test_a_malformed_content_length_is_refused(container: Container) -> None:
    client = api_client(container)
    r = client.post("/api/v1/login", content=b"{}", headers={"content-length": "1e9"})
    assert r.status_code in {400, 413}


# --- security headers (finding 17) -------------------------------------------------------


def test_every_response_carries_the_security_headers(container: Container) -> None:
    client = api_client(container)
    for path in ("/", "/login", "/api/v1/wallet", "/api/docs", "/static/style.css", "/nowhere"):
        r = client.get(path, follow_redirects=False)
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert "script-src 'self';" in csp, path
        assert "unsafe-inline" not in csp.split("style-src")[0], path  # never for scripts
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("referrer-policy") == "same-origin", path
        assert "strict-transport-security" not in r.headers, path  # plain http here
    assert "'unsafe-inline'" not in client.get("/").headers["content-security-policy"]


def test_hsts_over_https(container: Container) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(container), base_url="https://testserver")
    r = client.get("/login")
    assert r.headers["strict-transport-security"].startswith("max-age=31536000")


def test_the_api_docs_load_nothing_from_another_origin(container: Container) -> None:
    client = api_client(container)
    page = client.get("/api/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "<script>" not in page.text  # no inline script: CSP script-src 'self'
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert (WEB / "static" / "swagger-ui" / "LICENSE").is_file()


def test_templates_and_scripts_need_no_inline_script_or_style() -> None:
    """CSP allows scripts and styles from our origin only: no inline <script>, no event
    handler attributes, no style attributes or <style> blocks, no javascript: links."""
    problems = []
    for path in sorted((WEB / "templates").glob("*.html")):
        text = path.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"\son[a-z]+\s*=",
            r"\sstyle\s*=",
            r"<style",
            r"javascript:",
            r"hx-on",
        ):
            for match in re.finditer(pattern, text):
                problems.append(f"{path.name}: {match.group(0)}")
    assert problems == []
    base = (WEB / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base  # htmx would inject a <style> otherwise
