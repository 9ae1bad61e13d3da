"""The page as served: Vietnamese by default, nothing loaded from the internet, safe headers."""

from __future__ import annotations

import re
from importlib import resources

import httpx
import pytest

from hub.domain.kinds import KIND_LABELS
from hub.domain.model import AlarmKind
from tests.conftest import RunningHub

EXTERNAL = re.compile(
    r"""(?ix)
    \b(?:https?|wss?|ftp):          # an absolute URL of any network scheme
    | (?:src|href|action)\s*=\s*["']?//   # a protocol-relative URL in markup
    | url\(\s*["']?//                # ... or in CSS
    | @import                        # CSS pulling in another sheet
    | new\s+WebSocket                # any socket the page would open
    """
)
STATIC_FILES = sorted(
    entry.name
    for entry in resources.files("hub.web").joinpath("static").iterdir()
    if entry.is_file()
)


def test_the_static_folder_is_what_is_checked() -> None:
    """The list below walks the package's static folder: the page and its parts are all there."""
    assert {"index.html", "app.js", "style.css", "i18n.js", "sound.js"} <= set(STATIC_FILES)


@pytest.mark.parametrize("name", STATIC_FILES)
async def test_no_served_file_references_an_external_url(web_hub: RunningHub, name: str) -> None:
    """Every file of the page, fetched from the hub as a browser would, names no URL outside the
    hub: no CDN, no web font, no map tile, no analytics."""
    async with httpx.AsyncClient(base_url=web_hub.url) as client:
        response = await client.get(f"/static/{name}")
    assert response.status_code == 200
    found = EXTERNAL.findall(response.text)
    assert not found, f"{name} refers outside the hub: {found}"


async def test_the_page_is_vietnamese_and_self_contained(web_hub: RunningHub) -> None:
    """`/` is the page: `<html lang="vi">`, its script and sheet come from /static/, every link
    stays on the hub, and the Content-Security-Policy tells the browser to load nothing from
    anywhere else."""
    async with httpx.AsyncClient(base_url=web_hub.url) as client:
        response = await client.get("/")
        head = await client.head("/")
        static = await client.get("/static/app.js")
    assert response.status_code == 200
    assert head.status_code == 200
    html = response.text
    assert '<html lang="vi">' in html
    assert not EXTERNAL.findall(html)
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert loaded, "the page loads its script and sheet"
    same_origin = [url for url in loaded if url.startswith("/") and not url.startswith("//")]
    assert sorted(url for url in same_origin if url.startswith("/static/")) == [
        "/static/app.js",
        "/static/style.css",
    ]
    assert set(loaded) - set(same_origin) <= {"#main", "data:,"}, loaded
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'"):
        assert directive in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert static.headers["content-security-policy"] == csp
    assert static.headers["content-type"].startswith("text/javascript")


async def test_a_file_that_is_not_there_is_404(web_hub: RunningHub) -> None:
    """Asking for a missing or escaping path is a plain 404, never a file from elsewhere."""
    async with httpx.AsyncClient(base_url=web_hub.url) as client:
        for path in ("/static/nope.js", "/static/../accounts.py", "/static/%2e%2e/accounts.py"):
            assert (await client.get(path)).status_code == 404, path


@pytest.mark.parametrize(
    "text",
    [
        '<script src="https://cdn.example/x.js">',
        "<link href='//fonts.example/css'>",
        "body { background: url(//tiles.example/1.png) }",
        "@import 'x.css';",
        'fetch("http://10.0.0.1/api")',
        "new WebSocket(address)",
    ],
)
def test_the_detector_catches_external_references(text: str) -> None:
    """The check above would fail on each way a page can reach outside."""
    assert EXTERNAL.search(text)


def test_the_page_words_for_each_alarm_kind_are_the_messages_words() -> None:
    """Every alarm kind has its words in both languages of the page (`kind.<kind>` in i18n.js), the
    same as the messages and the report say (`hub.domain.kinds.KIND_LABELS`), and its colour."""
    script = resources.files("hub.web").joinpath("static/i18n.js").read_text("utf-8")
    css = resources.files("hub.web").joinpath("static/style.css").read_text("utf-8")
    vietnamese, english = script.split("\n  en: {", 1)
    for text, language in ((vietnamese, "vi"), (english, "en")):
        for kind, words in KIND_LABELS[language].items():
            assert f'"kind.{kind}": "{words}",' in text, (language, kind)
    for kind in AlarmKind:
        assert f".kind-{kind} {{ --kind: " in css, kind
