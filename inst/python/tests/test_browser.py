"""The server's page in a real headless browser (Debian's chromium, driven by
Playwright): it shows the signature, and its button sends a request whose
answer appears on the page."""

import os
import shutil

import pytest

from conftest import backend
from conftest import make_iris_model
from kerasexport import export_model
from test_server import FORMAT
from test_server import RunningServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_page_shows_signature_and_sends_a_request(tmp_path):
    if backend() != "tensorflow":
        pytest.skip("the page does not depend on the backend: tested once")
    from playwright.sync_api import sync_playwright

    model = make_iris_model(2, hidden=None)
    export_model(model, str(tmp_path / "iris"), format=FORMAT, version=1, verbose=False)
    server = RunningServer(str(tmp_path / "iris"))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            page.goto(server.url + "/")
            assert "measurements" in page.inner_text("table")
            assert "species" in page.inner_text("table")
            page.fill("#request", '{"instances": [[5.1, 3.5, 1.4, 0.2]]}')
            page.click("#send")
            page.wait_for_function("document.getElementById('response').textContent.length > 0")
            answer = page.inner_text("#response")
            assert answer.startswith("200")
            assert '"predictions"' in answer
            page.screenshot(path=str(tmp_path / "page.png"))
            page.goto(server.url + "/openapi.json")
            assert "/v1/models/iris:predict" in page.content()
            browser.close()
    finally:
        server.close()
    assert os.path.getsize(tmp_path / "page.png") > 0
