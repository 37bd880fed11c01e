"""Headless Chromium (the system's /usr/bin/chromium, driven by Playwright) against a local Superset.

Never `playwright install`: Playwright drives the Debian chromium that scripts/setup.sh installs.
"""

import contextlib
import tempfile
from collections.abc import Iterator

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# What an error looks like on a dashboard: an error alert, or a chart's error or empty-result message.
ERROR_SELECTOR = ".ant-alert-error, [data-test='error-alert'], .chart-container .alert-danger"
ERROR_TEXTS = ["Unexpected error", "Data error", "No results were returned", "Network error",
               "Error loading", "permission denied", "Unknown error"]


@contextlib.contextmanager
def logged_in_page(url: str, user: str, password: str, width: int = 1600, height: int = 1200) -> Iterator[Page]:
    """A page logged in through Superset's real login form; every request off url is refused."""
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="pulse-bi-chromium-") as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS, headless=True,
                                                   viewport={"width": width, "height": height})
        try:
            # No request leaves the machine (tracking pixels, map tiles): local origin, data: and blob: only.
            ctx.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith((url, "data:", "blob:")) else route.abort())
            page = ctx.new_page()
            page.goto(f"{url}/login/")
            page.fill("#username", user)
            page.fill("#password", password)
            page.click("[data-test='login-button']")
            page.wait_for_url(lambda u: "/login" not in u, timeout=60_000)
            yield page
        finally:
            ctx.close()


def wait_for_charts(page: Page, expected: int, timeout_ms: int = 120_000) -> None:
    """Waits until `expected` charts are on the page and none shows a loading spinner or is empty.

    A chart has rendered when its container holds an echarts canvas, a table, a big number or an
    error; the assertions on errors come after, so a chart that failed still ends the wait.
    """
    page.wait_for_function(
        """(expected) => {
            const holders = document.querySelectorAll("[data-test='chart-grid-component']");
            if (holders.length < expected) return false;
            for (const h of holders) {
                if (h.querySelector("[data-test='loading-indicator'], .loading")) return false;
                const done = h.querySelector("canvas, svg, table, .header-line, .big-number, .ant-alert, .alert");
                if (!done) return false;
            }
            return true;
        }""",
        arg=expected, timeout=timeout_ms, polling=250)
    # echarts animates its first paint; screenshots taken mid-animation show half-drawn bars.
    page.wait_for_timeout(1500)


def page_errors(page: Page) -> list[str]:
    """Error alerts and error texts visible on the page."""
    found = [e.inner_text()[:200] for e in page.query_selector_all(ERROR_SELECTOR) if e.is_visible()]
    body = page.inner_text("body")
    found += [t for t in ERROR_TEXTS if t.lower() in body.lower()]
    return found
