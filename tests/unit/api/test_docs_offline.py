"""/docs and /redoc work without internet: every script, style and icon they load is served by the app."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient


class _References(HTMLParser):
    """Every URL a page loads by itself: src= and href= attributes, and Swagger UI's ``url: '...'``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]
        self._script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._script and "url: '" in data:
            self.urls.append(data.split("url: '", 1)[1].split("'", 1)[0])


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize(
    ("page", "needs"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_the_docs_pages_load_only_same_origin_assets_the_app_serves(
    client: TestClient, page: str, needs: str
) -> None:
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "http://" not in r.text and "https://" not in r.text, "no absolute URL: nothing from a CDN"
    urls = references(r.text)
    assert any(url.endswith(needs) for url in urls), urls
    assert "/openapi.json" in urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), f"{url} is not same-origin"
        asset = client.get(url)
        assert asset.status_code == 200, (url, asset.status_code)
        assert len(asset.content) > 0, url


def test_the_assets_are_the_real_scripts_and_styles(client: TestClient) -> None:
    urls = references(client.get("/docs").text)
    script = next(u for u in urls if u.endswith(".js"))
    style = next(u for u in urls if u.endswith(".css"))
    js = client.get(script)
    assert "javascript" in js.headers["content-type"] and "SwaggerUIBundle" in js.text
    css = client.get(style)
    assert css.headers["content-type"].startswith("text/css") and ".swagger-ui" in css.text


def test_swagger_ui_sends_the_schema_to_no_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_a_missing_asset_is_a_404_problem(client: TestClient) -> None:
    urls = references(client.get("/docs").text)
    folder = next(u for u in urls if u.endswith(".js")).rsplit("/", 1)[0]
    r = client.get(f"{folder}/no-such-file.js")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
