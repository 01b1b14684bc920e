"""Application settings: read once by the composition root, then passed down as plain values."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from reid.embed.names import EMBEDDER_CHOICES
from reid.index_kinds import INDEX_KINDS
from tracking.names import DETECTOR_NAMES, TRACKER_NAMES

DEFAULT_DATA_DIR = "reid-data"
INDEX_SOURCE_CHOICES = ("auto", "files", "database")


@dataclass(frozen=True)
class Settings:
    """Everything the service is built from.

    Attributes:
        data_dir: the gallery folder (``reid.db``, ``vectors.faiss``, ``crops/``...).
        db_url: SQLAlchemy URL; default SQLite in the data dir. PostgreSQL:
            ``postgresql+psycopg://USER@HOST/DB`` (the ``postgres`` extra installs the driver).
        detector: ``"yolo"`` (falls back to ``"ssd"``, then ``"hog"``, with a warning, when weights
            are unavailable), ``"ssd"`` (SSDLite-MobileNetV2 person detector in cv2.dnn) or ``"hog"``.
        yolo_weights: ultralytics weights name or path.
        tracker: ``"bytetrack"``, ``"botsort"`` or a tracking YAML path.
        stride: detect on every ``stride``-th frame; 0 (the default): about 5 frames a second
            (``tracking.pipeline.detection_stride``).
        embedder: ``"auto"``, ``"tfclip"``, ``"clip"`` or ``"mobilenet"``
            (see ``reid.embed.create_embedder``).
        checkpoint: a TF-CLIP inference checkpoint (``reid export``); used by ``auto`` when set.
        clip_weights: CLIP weights for the zero-shot descriptor (a tag or a local file).
        index: vector index kind (``flat``, ``hnsw``, ``hnswsq``, ``ivfsq``, ``ivfpq``, ``auto``); None
            keeps the kind the gallery was configured with (``flat`` for a new gallery).
        device: torch device for the embedder and YOLO.
        index_source: where this process's vector index comes from: ``"files"`` (the data
            dir's ``vectors.faiss``), ``"database"`` (built in memory from the database's
            descriptors and following it: servers and workers sharing one PostgreSQL catalogue
            from several machines) or ``"auto"`` (the default: ``database`` for a database
            other than SQLite, else ``files``); see ``resolved_index_source``.
    """

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    db_url: str | None = None
    detector: str = "yolo"
    yolo_weights: str = "yolo11n.pt"
    tracker: str = "bytetrack"
    stride: int = 0
    embedder: str = "auto"
    checkpoint: str | None = None
    clip_weights: str = "openai"
    index: str | None = None
    device: str = "cpu"
    index_source: str = "auto"

    def __post_init__(self) -> None:
        if self.index_source not in INDEX_SOURCE_CHOICES:
            raise ValueError(f"index source {self.index_source!r} is unknown; choose one of "
                             f"{', '.join(INDEX_SOURCE_CHOICES)}")

    @property
    def resolved_index_source(self) -> str:
        """``index_source`` with ``auto`` resolved: ``database`` for a shared database (any URL
        but SQLite's), ``files`` for the gallery's own SQLite file."""
        if self.index_source != "auto":
            return self.index_source
        shared = self.db_url is not None and not self.db_url.startswith("sqlite")
        return "database" if shared else "files"

    @classmethod
    def from_sources(
        cls, args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, overridden by ``REID_<FIELD>`` environment variables, overridden by CLI args
        (attributes of ``args`` with the field's name that are not None)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"REID_{f.name.upper()}")
            if raw is not None:
                values[f.name] = raw
            arg = getattr(args, f.name, None) if args is not None else None
            if arg is not None:
                values[f.name] = arg
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"])).expanduser()
        if "stride" in values:
            raw = str(values["stride"]).strip().lower()
            try:
                stride = 0 if raw == "auto" else int(raw)
            except ValueError:
                raise ValueError(f"stride must be a whole number or auto, got {raw!r}") from None
            if stride < 0:
                raise ValueError(f"stride must be >= 1, or 0 / auto, got {stride}")
            values["stride"] = stride
        return cls(**values)


def add_settings_arguments(parser: argparse.ArgumentParser, *, indexing: bool = False) -> None:
    """The options every gallery command shares (and, with ``indexing``, the pipeline's)."""
    parser.add_argument("--data-dir", dest="data_dir", help=f"gallery folder (default ./{DEFAULT_DATA_DIR}, "
                        "or $REID_DATA_DIR)")
    parser.add_argument("--db-url", dest="db_url",
                        help="gallery database as a SQLAlchemy URL (default SQLite in the data dir, or "
                        "$REID_DB_URL), e.g. postgresql+psycopg://USER@HOST/DB for a catalogue shared by "
                        "several servers")
    parser.add_argument("--index-source", dest="index_source", choices=INDEX_SOURCE_CHOICES,
                        help="vector index from the data dir's files, or built from the database's "
                        "descriptors and following it (for servers sharing one catalogue); default "
                        "auto: database for a PostgreSQL --db-url, else files")
    parser.add_argument("--embedder", choices=EMBEDDER_CHOICES,
                        help="descriptor model (default auto: TF-CLIP checkpoint, else zero-shot CLIP, "
                        "else the offline MobileNetV2 fallback)")
    parser.add_argument("--checkpoint", help="TF-CLIP inference checkpoint written by `reid export`")
    parser.add_argument("--clip-weights", dest="clip_weights",
                        help="CLIP weights tag or file (default openai)")
    parser.add_argument("--device", help="torch device (default cpu)")
    if indexing:
        parser.add_argument("--detector", choices=DETECTOR_NAMES,
                            help="person detector (default yolo; offline it falls back to ssd, the "
                            "SSDLite-MobileNetV2 graph, then to hog)")
        parser.add_argument("--yolo-weights", dest="yolo_weights", help="YOLO weights name or path")
        parser.add_argument("--tracker", help=f"{TRACKER_NAMES[0]} (default), "
                            f"{', '.join(TRACKER_NAMES[1:])}, or a tracking YAML file")
        parser.add_argument("--stride", help="detect on every N-th frame; tracks carry on across the "
                            "others (default auto: about 5 frames a second, every 2nd frame of a "
                            "10-fps video, every 6th at 30 fps; 1: every frame)")
        parser.add_argument("--index", choices=INDEX_KINDS,
                            help="vector index kind (default: the gallery's own, flat for a new one)")
