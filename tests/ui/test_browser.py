"""Headless Chromium against ``reid serve``: open the page, click a person, see the results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def test_click_a_person_shows_matches(indexed, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium not installed (Debian: apt-get install -y chromium)")
    server, _ = indexed
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url, timeout=30_000)
            people = page.locator("#reid-people img")
            people.first.wait_for(timeout=30_000)
            assert people.count() >= 2
            assert "Offline fallback models in use" in page.locator("#reid-banner").inner_text()
            page.screenshot(path=str(tmp_path / "people.png"), full_page=True)

            people.first.click()
            results = page.locator("#reid-results img")
            results.first.wait_for(timeout=30_000)
            summary = page.locator("#reid-results-summary").inner_text()
            assert "Query: #" in summary and "matches on" in summary
            assert page.get_by_role("tab", name="Search").get_attribute("aria-selected") == "true"
            page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert (tmp_path / "results.png").stat().st_size > 10_000
