"""The UI's service protocol (``app.ui.service_api.UiService``) against the real service and the
fake of these tests: same methods, same parameter names (in order), same return annotations."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.ui.service_api import UiService
from tests.ui.fakes import FakeService

if TYPE_CHECKING:
    from reid.service import ReidService


def _protocol_methods() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in vars(UiService).items()
            if inspect.isfunction(fn) and not name.startswith("_")}


def _mismatches(impl: type) -> list[str]:
    """What ``impl`` lacks or spells differently from ``UiService`` (empty: it satisfies it).

    Each protocol parameter must exist in the implementation at the same position with the same
    name and kind, and with a default where the protocol has one; the implementation may add
    parameters after them only with defaults. Return annotations, where the implementation has
    one, must read the same.
    """
    problems = []
    for name, want in _protocol_methods().items():
        fn = getattr(impl, name, None)
        if not callable(fn):
            problems.append(f"{name}: missing")
            continue
        have = inspect.signature(fn)
        wanted, had = list(want.parameters.values()), list(have.parameters.values())
        for k, p in enumerate(wanted):
            q = had[k] if k < len(had) else None
            if q is None or q.name != p.name or q.kind != p.kind:
                problems.append(f"{name}: parameter {k} is {q and q.name!r}, want {p.name!r}")
                break
            if p.default is not p.empty and q.default is q.empty:
                problems.append(f"{name}: {p.name} needs a default")
        problems += [f"{name}: extra parameter {q.name!r} without a default"
                     for q in had[len(wanted):] if q.default is q.empty
                     and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)]
        if have.return_annotation is not have.empty and \
                str(have.return_annotation).replace(" ", "") != \
                str(want.return_annotation).replace(" ", ""):
            problems.append(f"{name}: returns {have.return_annotation}, want {want.return_annotation}")
    return problems


def test_the_protocol_lists_what_the_ui_calls() -> None:
    assert set(_protocol_methods()) == {
        "list_cameras", "list_videos", "list_tracklets", "get_tracklet", "status", "search",
        "add_feedback", "render_clip", "render_frames", "export", "resolve_data_path",
        "index_video", "index_folder"}
    assert isinstance(vars(UiService)["data_dir"], property)


@pytest.mark.parametrize("impl", ["real", "fake"])
def test_implementations_satisfy_the_protocol(impl: str, tmp_path: Path) -> None:
    if impl == "real":
        from reid.service import ReidService

        cls: type = ReidService
        assert isinstance(inspect.getattr_static(ReidService, "data_dir"), property)
    else:
        cls = FakeService
        fake = FakeService(tmp_path / "data")
        assert isinstance(fake, UiService) and fake.data_dir == tmp_path / "data"
    assert _mismatches(cls) == []


def _typed_as_the_protocol(fake: FakeService, real: ReidService) -> tuple[UiService, UiService]:
    """For mypy (``mypy tests/ui/test_service_api.py``): both are ``UiService`` statically too."""
    return fake, real


def test_the_check_catches_a_drifted_fake() -> None:
    class Drifted(FakeService):
        def search(self, req, who="cli"):  # type: ignore[no-untyped-def]
            return super().search(req, who)

        def status(self, verbose):  # type: ignore[no-untyped-def,override]
            return super().status()

    empty = type("Empty", (), {})
    problems = _mismatches(Drifted)
    assert any(p.startswith("search: parameter 1") for p in problems)
    assert any("extra parameter 'verbose'" in p for p in problems)
    assert "export: missing" in _mismatches(empty)
