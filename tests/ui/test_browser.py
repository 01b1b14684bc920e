"""Headless Chromium against ``reid serve``: open the page, click a person, see the results."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@contextlib.contextmanager
def opened_page(url: str) -> Iterator[tuple[object, list[str]]]:
    """``(page, errors)``: the app at ``url`` in headless Chromium, and the page's script errors."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium not installed (Debian: apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, timeout=30_000)
            yield page, errors
        finally:
            browser.close()


def test_click_a_person_shows_matches(indexed, tmp_path: Path) -> None:
    server, _ = indexed
    with opened_page(server.url) as (page, errors):
        people = page.locator("#reid-people img")
        people.first.wait_for(timeout=30_000)
        assert people.count() >= 2
        assert "Offline fallback models in use" in page.locator("#reid-banner").inner_text()
        page.screenshot(path=str(tmp_path / "people.png"), full_page=True)

        people.first.click()
        results = page.locator("#reid-results img")
        results.first.wait_for(timeout=30_000)
        # thumbnails come as absolute file URLs (app/ui/file_links.py) and do load
        for images in (people, results):
            assert images.first.get_attribute("src").startswith(server.url + "/gradio_api/file=")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                   arg=images.first.element_handle(), timeout=30_000)
        summary = page.locator("#reid-results-summary").inner_text()
        assert "Query: #" in summary and "matches on" in summary
        assert page.get_by_role("tab", name="Search").get_attribute("aria-selected") == "true"
        page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
        assert not errors, errors
    assert (tmp_path / "results.png").stat().st_size > 10_000


def test_search_by_photo_shows_ranked_matches(indexed, tmp_path: Path) -> None:
    """Upload a person's photo (a crop from the indexed footage) and see ranked matches."""
    server, _ = indexed
    crops = sorted((server.data_dir / "crops").rglob("*.jpg"))
    assert crops, "the indexed gallery has no crops"
    photo = tmp_path / "person.jpg"
    photo.write_bytes(crops[len(crops) // 2].read_bytes())
    with opened_page(server.url) as (page, errors):
        page.locator("#reid-people img").first.wait_for(timeout=30_000)
        page.get_by_role("tab", name="Search").click()
        page.locator("#reid-photo input[type=file]").set_input_files(str(photo))
        page.locator("#reid-photo img").first.wait_for(timeout=30_000)  # the preview
        page.locator("#reid-photo-btn").click()
        results = page.locator("#reid-results img")
        results.first.wait_for(timeout=60_000)
        summary = page.locator("#reid-results-summary")
        summary.get_by_text("matches on").wait_for(timeout=30_000)
        assert "Query: #" not in summary.inner_text()  # a photo, not a gallery person
        assert results.count() >= 2
        captions = page.locator("#reid-results .caption-label").all_inner_texts()
        scores = [float(c.split("score ")[1].split(" ")[0]) for c in captions if "score " in c]
        assert [c.split(".")[0] for c in captions[:3]] == ["1", "2", "3"][: len(captions[:3])]
        assert scores == sorted(scores, reverse=True) and len(scores) >= 2
        assert not page.get_by_text("internal error").count()
        page.screenshot(path=str(tmp_path / "photo_results.png"), full_page=True)
        assert not errors, errors
    assert (tmp_path / "photo_results.png").stat().st_size > 10_000
