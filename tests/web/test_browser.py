"""The main journeys in a real browser (Debian's chromium, headless, through Playwright) against a real
server: a trader lodges, an officer controls and releases, the trader pays; an officer issues a
certificate of origin, the trader downloads it and a member of the public verifies it. Each step is
saved as a screenshot under $CUSTOMHOUSE_TEST_ARTIFACTS (default: the test's tmp_path).

Skips when chromium is missing, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from customhouse.app import create_app
from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, upgrade, writing
from tests import factories
from tests.helpers import free_port
from tests.web.test_trader import form_of, one_item_declaration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if os.environ.get("CI") == "true":
    from playwright import sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    pytest.skip(f"chromium is missing at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server on a SQLite file of its own, its event dispatcher running, as `make run` starts it."""
    path = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{path / 'web.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with writing(make_session_factory(engine)) as session:
        tokens = factories.world(session)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=url,
        var_dir=path / "var",
        public_url=base,
        country="KR",
        national_currency="KRW",
        rate_look_back_days=3660,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    assert server.started, "the server did not start"
    yield base, tokens
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = os.environ.get("CUSTOMHOUSE_TEST_ARTIFACTS")
    folder = Path(root) / "browser" if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


class Person:
    """One user in a browser context of their own, saving a screenshot at each step."""

    def __init__(self, browser: Any, base: str, folder: Path, name: str) -> None:
        self.context = browser.new_context(accept_downloads=True)
        self.page = self.context.new_page()
        self.base, self.folder, self.name = base, folder, name

    def shot(self, step: str) -> None:
        self.page.screenshot(path=str(self.folder / f"{self.name}-{step}.png"), full_page=True)

    def sign_in(self, token: str) -> None:
        self.page.goto(f"{self.base}/web/sign-in")
        self.page.get_by_label("Access token").fill(token)
        self.page.keyboard.press("Enter")  # the form works from the keyboard
        self.page.wait_for_url(lambda url: "/sign-in" not in url)

    def until(self, url: str, text: str, seconds: float = 15) -> None:
        """Reload `url` until it shows `text`: the dispatcher assesses and settles in the background."""
        deadline = time.monotonic() + seconds
        while True:
            self.page.goto(url)
            if text in self.page.content() or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert text in self.page.content(), f"{url} never showed {text!r}"


def test_lodge_control_pay_release(browser: Any, server: tuple[str, dict[str, str]], artifacts: Path) -> None:
    base, tokens = server
    other = {"id": factories.OTHER_TRADER, "name": "Daehan Imports", "country": "KR"}
    trader = Person(browser, base, artifacts, "1-trader")
    trader.sign_in(tokens["other_trader"])
    trader.page.goto(f"{base}/web/declarations-new")
    document = one_item_declaration(lrn="WEB-1", declarant=other, importer=other, documents=[])
    for pointer, value in form_of(document).items():
        field = trader.page.locator(f'[name="{pointer}"]')
        if pointer == "/kind":
            field.select_option(value)
        else:
            field.fill(value)
    trader.shot("1-form")
    trader.page.get_by_label("Local reference number (LRN)").press("Enter")
    trader.page.wait_for_url(lambda url: "/web/declarations/" in url)
    declaration_url = trader.page.url
    trader.until(declaration_url, "Pay ")
    assert "lane-yellow" in trader.page.content()  # no supporting document: documentary control
    trader.shot("2-lodged")

    officer = Person(browser, base, artifacts, "2-officer")
    officer.sign_in(tokens["officer"])
    assert officer.page.url.endswith("/web/queue")
    officer.page.get_by_role("link", name=declaration_url.rsplit("/", 1)[1]).or_(
        officer.page.locator(f'a[href="{declaration_url.removeprefix(base)}"]')
    ).first.click()
    officer.page.get_by_label("Outcome").select_option("conforming")
    officer.page.get_by_label("Note").fill("documents checked")
    officer.shot("1-control")
    officer.page.get_by_role("button", name="Record control").click()
    officer.until(declaration_url, "declaration.control_recorded")

    trader.page.goto(declaration_url)
    trader.page.get_by_role("button", name="Pay").click()
    trader.page.get_by_label("Card holder").fill("Park Jisoo")
    trader.shot("3-gateway")
    trader.page.get_by_role("button", name="Pay").click()
    trader.page.wait_for_selector("#status")
    trader.until(declaration_url, '<dd class="settled">yes</dd>')
    trader.shot("4-paid")

    officer.page.goto(declaration_url)
    officer.page.get_by_role("button", name="Release the goods").click()
    officer.until(declaration_url, "declaration.released")
    officer.shot("2-released")
    trader.until(declaration_url, "Download the payment receipt")
    with trader.page.expect_download() as download:
        trader.page.get_by_role("link", name="Download the payment receipt").click()
    receipt = orjson.loads(Path(download.value.path()).read_bytes())
    assert receipt["receipt"]["payer"] == "Park Jisoo"


def test_certificate_issued_downloaded_and_verified_by_the_public(
    browser: Any, server: tuple[str, dict[str, str]], artifacts: Path, tmp_path: Path
) -> None:
    base, tokens = server
    trader = Person(browser, base, artifacts, "3-exporter")
    trader.sign_in(tokens["trader"])
    trader.page.goto(f"{base}/web/upload")
    file = tmp_path / "export.json"
    file.write_bytes(orjson.dumps(factories.export_document(lrn="WEB-EXP-1")))
    trader.page.get_by_label("File (.json or .ndjson)").set_input_files(str(file))
    trader.page.get_by_role("button", name="Upload and lodge").click()
    trader.page.get_by_role("link", name="WEB-EXP-1").click()
    declaration_url = trader.page.url
    trader.shot("1-uploaded")

    officer = Person(browser, base, artifacts, "4-officer")
    officer.sign_in(tokens["officer"])
    officer.until(declaration_url, "Issue a certificate of origin")
    officer.page.get_by_role("button", name="Issue a certificate of origin").click()
    officer.until(declaration_url, "download certificate")
    officer.shot("1-issued")

    trader.until(declaration_url, "download certificate")
    with trader.page.expect_download() as download:
        trader.page.get_by_role("link", name="download certificate").click()
    token = Path(download.value.path()).read_text().strip()
    trader.shot("2-certificate")

    public = Person(browser, base, artifacts, "5-public")
    public.page.goto(f"{base}/verify")
    public.page.locator('textarea[name="token"]').fill(token)
    public.page.get_by_role("button", name="Verify").click()
    public.page.wait_for_selector("h2")
    public.shot("1-verified")
    assert public.page.locator("h2").inner_text() == "VALID"
