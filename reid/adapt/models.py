"""The gallery's adapted models: ``<data dir>/models/``, which one is active, and the way back.

Every model ``reid adapt`` makes is kept (``site-head-0001.pt``, ``tfclip-site-0002.pt``, ...), and
``models/active.json`` records the active one and, for each, the model that was active before it,
so ``reid adapt --rollback`` returns to exactly the previous state (down to no adaptation at all).

Two kinds: ``head`` (a projection over the embedder named by its base fingerprint,
``reid.adapt.head``) and ``checkpoint`` (a TF-CLIP inference checkpoint fine-tuned on the site).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid.store.layout import GalleryLayout

logger = logging.getLogger(__name__)

MODEL_KINDS = ("head", "checkpoint")
_PREFIX = {"head": "site-head", "checkpoint": "tfclip-site"}


@dataclass(frozen=True)
class SiteModel:
    """One adapted model of a gallery.

    Attributes:
        file: file name inside ``models/``.
        kind: ``"head"`` or ``"checkpoint"``.
        created: ISO 8601 UTC time it was added.
        previous: the file that was active before this one was activated (None: no adaptation).
        summary: what it was fitted on and how (pseudo-identities, crops, options, seconds).
    """

    file: str
    kind: str
    created: str
    previous: str | None
    summary: dict[str, Any] = field(default_factory=dict)


class SiteModels:
    """The ``models/`` folder of one data dir."""

    def __init__(self, data_dir: str | Path):
        self.folder = GalleryLayout(Path(data_dir)).models
        self.state_path = self.folder / "active.json"

    def _read(self) -> dict[str, Any]:
        if not self.state_path.is_file():
            return {"active": None, "models": []}
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.state_path} is unreadable ({exc}); restore it from a backup or "
                             "delete it to use the gallery without adaptation") from None
        if not isinstance(state, dict) or not isinstance(state.get("models"), list):
            raise ValueError(f"{self.state_path} is not a models list written by `reid adapt`")
        return state

    def _write(self, state: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        os.replace(tmp, self.state_path)

    def models(self) -> list[SiteModel]:
        """Every adapted model, oldest first."""
        return [SiteModel(**m) for m in self._read()["models"]]

    def active(self) -> SiteModel | None:
        """The active model, or None when the gallery uses its embedder as it is."""
        state = self._read()
        return next((SiteModel(**m) for m in state["models"] if m["file"] == state["active"]), None)

    def path(self, model: SiteModel) -> Path:
        """The model's file.

        Raises:
            FileNotFoundError: the file is gone (the message says how to go back).
        """
        path = self.folder / model.file
        if not path.is_file():
            raise FileNotFoundError(f"the active adapted model {path} is missing: restore it, or run "
                                    "`reid adapt --rollback` to use the previous one")
        return path

    def add(self, source: str | Path, kind: str, summary: dict[str, Any]) -> SiteModel:
        """Move ``source`` into ``models/`` under the next free number and make it active."""
        if kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {kind!r}; one of {MODEL_KINDS}")
        state = self._read()
        number = len(state["models"]) + 1
        while any((self.folder / f"{p}-{number:04d}.pt").exists() for p in _PREFIX.values()):
            number += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{_PREFIX[kind]}-{number:04d}.pt"
        shutil.move(str(source), self.folder / name)
        model = SiteModel(name, kind, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                          state["active"], summary)
        state["models"].append(model.__dict__)
        state["active"] = name
        self._write(state)
        logger.info("adapted model %s is now active (previous: %s)", name, model.previous or "none")
        return model

    def rollback(self) -> SiteModel | None:
        """Make the model that was active before the current one active again; returns it (None:
        back to no adaptation).

        Raises:
            ValueError: no adapted model is active.
        """
        state = self._read()
        current = self.active()
        if current is None:
            raise ValueError("no adapted model is active: nothing to roll back")
        state["active"] = current.previous
        self._write(state)
        logger.info("rolled back from %s to %s", current.file, current.previous or "no adaptation")
        return self.active()
