"""The one place that names the files and folders of a gallery's data dir.

Everything else asks a ``GalleryLayout`` for a path instead of joining names itself::

    <data dir>/
        reid.db (+ -wal, -shm, -journal)   the database: the source of truth
        vectors.faiss, vectors.json         the vector index (derived) and its checksum/metadata
        vectors.delta                       changes appended since vectors.faiss was written
        crops/<video id>/<track id>/        tracklet crops; crops/.gallery-id marks whose they are
        clips/tracklet_<id>.*               rendered clips (a cache)
        exports/                            search exports (CSV, JSON, zip)
        uploads/<hash>/<name>               originals of uploaded videos that were indexed
        models/ (active.json)               adapted models (``reid.adapt.models``)
        .write.lock                         one writer per gallery across processes
        .gradio/                            where older versions kept the web UI's upload cache

The web UI's upload cache now lives beside the data dir (``app.ui.serving.gradio_cache_dir``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DB_NAME", "GalleryLayout"]

DB_NAME = "reid.db"


@dataclass(frozen=True)
class GalleryLayout:
    """The paths of one gallery's data dir (pure: nothing is created or read here).

    Attributes:
        data_dir: the gallery folder (absolute when built with ``GalleryLayout.of``).
    """

    data_dir: Path

    @classmethod
    def of(cls, data_dir: str | Path) -> GalleryLayout:
        """The layout of ``data_dir``, resolved to an absolute path."""
        return cls(Path(data_dir).resolve())

    @property
    def db(self) -> Path:
        """The SQLite database, ``reid.db``."""
        return self.data_dir / DB_NAME

    @property
    def db_url(self) -> str:
        """The default SQLAlchemy URL of the database."""
        return f"sqlite:///{self.db}"

    @property
    def index(self) -> Path:
        """The vector index file, ``vectors.faiss``."""
        return self.data_dir / "vectors.faiss"

    @property
    def index_delta(self) -> Path:
        """Changes appended since ``vectors.faiss`` was written, ``vectors.delta``."""
        return self.data_dir / "vectors.delta"

    @property
    def index_meta(self) -> Path:
        """The vector index's metadata (fingerprint, count, checksum), ``vectors.json``."""
        return self.data_dir / "vectors.json"

    @property
    def crops(self) -> Path:
        """Tracklet crops, ``crops/<video id>/<track id>/``."""
        return self.data_dir / "crops"

    def video_crops(self, video_id: int) -> Path:
        """The crops of one video, ``crops/<video id>/``."""
        return self.crops / str(int(video_id))

    def tracklet_crops(self, video_id: int, track_id: int) -> Path:
        """The crops of one tracklet, ``crops/<video id>/<track id>/``."""
        return self.video_crops(video_id) / str(int(track_id))

    @property
    def clips(self) -> Path:
        """Rendered tracklet clips, ``clips/``."""
        return self.data_dir / "clips"

    def clip_stem(self, tracklet_id: int) -> Path:
        """A tracklet's clip without suffix, ``clips/tracklet_<id>``."""
        return self.clips / f"tracklet_{int(tracklet_id)}"

    @property
    def exports(self) -> Path:
        """Search exports, ``exports/``."""
        return self.data_dir / "exports"

    @property
    def uploads(self) -> Path:
        """Kept originals of uploaded videos, ``uploads/``."""
        return self.data_dir / "uploads"

    @property
    def models(self) -> Path:
        """Adapted models and ``active.json``, ``models/``."""
        return self.data_dir / "models"

    @property
    def write_lock(self) -> Path:
        """The cross-process writer lock file, ``.write.lock``."""
        return self.data_dir / ".write.lock"

    @property
    def legacy_ui_cache(self) -> Path:
        """Where older versions kept the web UI's upload cache, ``.gradio/``."""
        return self.data_dir / ".gradio"

    def created_dirs(self) -> tuple[Path, ...]:
        """The folders a writable gallery creates when it opens."""
        return (self.data_dir, self.crops, self.uploads)

    @staticmethod
    def private_names() -> tuple[str, ...]:
        """Names in the data dir that a web server must never serve: the database, the index
        (and its delta of descriptors), uploaded originals, adapted models, the lock and the old
        upload cache."""
        return (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal",
                "vectors.faiss", "vectors.json", "vectors.delta", "uploads", "models", ".write.lock",
                ".gradio")
