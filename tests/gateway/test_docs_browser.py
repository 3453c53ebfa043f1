"""The API docs work with no internet (issue 16): the gateway serves every asset of /docs itself,
proven in a real headless Chromium with every request to another origin blocked.

The browser is Debian's `chromium` (`apt-get install -y chromium`; `make test` installs it when
it runs as root), driven by Playwright for Python on that executable: a browser download of
Playwright's own cannot be fetched on these machines. Without the browser this test fails and says
so: it is not skipped.

Screenshots land in `.linju/test-artifacts/docs/` (or `$LINJU_TEST_ARTIFACTS/docs/`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from services.cli.seed import DEMO_PASSWORD
from tests.conftest import RunningStack

CHROMIUM = os.environ.get("LINJU_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("LINJU_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / ".linju" / "test-artifacts")
)
# What these machines need to start Chromium headless as root on a closed network (without the
# background-networking flags it keeps trying to reach Google's hosts).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXTERNAL_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
STREETS = ("西兴", "长河", "浦沿")


# ---- the pages, without a browser ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect"])
def test_docs_pages_name_no_asset_outside_the_gateway(gateway: httpx.Client, path: str) -> None:
    page = gateway.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not EXTERNAL_ASSET.findall(page.text), EXTERNAL_ASSET.findall(page.text)
    for asset in re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text):
        served = gateway.get(asset)
        assert served.status_code == 200, asset
        assert served.content, asset


def test_docs_assets_are_versioned_and_cached(gateway: httpx.Client) -> None:
    page = gateway.get("/docs").text
    (bundle,) = re.findall(r"""src=["'](/docs/assets/[^"']+/swagger-ui-bundle\.js)["']""", page)
    served = gateway.get(bundle)
    assert served.headers["content-type"].startswith("text/javascript")
    assert "immutable" in served.headers["cache-control"] and served.headers.get("etag")
    assert gateway.get(bundle, headers={"If-None-Match": served.headers["etag"]}).status_code == 304
    assert gateway.get("/docs/assets/0.0.0/swagger-ui-bundle.js").status_code == 404
    assert gateway.get(bundle.rsplit("/", 1)[0] + "/../../app.py").status_code == 404
    favicon = gateway.get("/docs/favicon.svg")
    assert favicon.headers["content-type"] == "image/svg+xml" and b"<svg" in favicon.content


# ---- the page in a real browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"The docs browser test needs Debian's Chromium at {CHROMIUM}: run "
            "`sudo apt-get install -y chromium` (make test does it when run as root), "
            "or point LINJU_CHROMIUM at a Chromium binary."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_swagger_ui_logs_in_and_calls_the_api_with_the_outside_network_blocked(
    stack: RunningStack, browser: object
) -> None:
    from playwright.sync_api import Browser, Route, expect

    assert isinstance(browser, Browser)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(stack.gateway_url))
    asked_elsewhere: list[str] = []

    def only_the_gateway(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or url.startswith(origin + "/"):
            route.continue_()
        else:
            asked_elsewhere.append(url)
            route.abort("blockedbyclient")

    context = browser.new_context(base_url=origin, viewport={"width": 1400, "height": 1800})
    context.route("**/*", only_the_gateway)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    shots = ARTIFACTS / "docs"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        page.goto("/docs", wait_until="networkidle")
        # The merged document's operations are rendered.
        streets = page.locator(
            '.opblock-get:has(.opblock-summary-path[data-path="/api/v1/registry/streets"])'
        )
        expect(streets).to_have_count(1, timeout=30_000)
        assert page.locator(".opblock").count() > 100

        # Authorize: the OAuth2 password flow with the demo district login.
        page.locator(".auth-wrapper .btn.authorize").click()
        dialog = page.locator(".modal-ux")
        dialog.locator("#oauth_username").fill("district")
        dialog.locator("#oauth_password").fill(DEMO_PASSWORD)
        dialog.locator(".auth-btn-wrapper .btn.modal-btn.authorize").click()
        expect(
            dialog.locator(".auth-btn-wrapper .btn-done, .auth-btn-wrapper button:has-text('Logout')").first
        ).to_be_visible(timeout=20_000)
        expect(dialog.get_by_text("Logout")).to_be_visible()
        assert not dialog.locator(".errors-wrapper, .auth-container .errors").count(), dialog.inner_text()
        dialog.locator(".btn-done").click()

        # Try it out → Execute on GET /api/v1/registry/streets.
        streets.locator(".opblock-summary").click()
        streets.get_by_role("button", name="Try it out").click()
        streets.get_by_role("button", name="Execute").click()
        live = streets.locator(".live-responses-table .response .response-col_status")
        expect(live).to_have_text(re.compile(r"^\s*200"), timeout=20_000)
        body = streets.locator(".live-responses-table .response-col_description pre.microlight").first
        for name in STREETS:
            expect(body).to_contain_text(name)
        streets.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "swagger-ui-streets.png"), full_page=False)

        # Persisted authorization: still logged in after a reload.
        page.reload(wait_until="networkidle")
        expect(page.locator(".auth-wrapper .btn.authorize.locked")).to_be_visible(timeout=20_000)

    except Exception:
        page.screenshot(path=str(shots / "failure.png"), full_page=True)
        raise
    finally:
        context.close()
    assert asked_elsewhere == [], f"the docs asked for assets outside the gateway: {asked_elsewhere}"
    assert page_errors == [], page_errors
