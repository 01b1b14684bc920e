"""Indexes for the catalogue's listing and filter queries at 10^6 tracklets.

``tracklets (video_id, id)`` and ``(camera_id, id)`` replace the single-column ``video_id`` and
``camera_id`` indexes (each still serves its foreign key): a video's or a camera's tracklets come
out of the index in id order, and per-video counts are an index-only scan. ``videos (start_time)``
serves the time-window filter. Measured in ``benchmarks/pg_catalogue.py``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_tracklets_video_id_id", "tracklets", ["video_id", "id"])
    op.create_index("ix_tracklets_camera_id_id", "tracklets", ["camera_id", "id"])
    op.drop_index("ix_tracklets_video_id", table_name="tracklets")
    op.drop_index("ix_tracklets_camera_id", table_name="tracklets")
    op.create_index("ix_videos_start_time", "videos", ["start_time"])


def downgrade() -> None:
    op.drop_index("ix_videos_start_time", table_name="videos")
    op.create_index("ix_tracklets_camera_id", "tracklets", ["camera_id"])
    op.create_index("ix_tracklets_video_id", "tracklets", ["video_id"])
    op.drop_index("ix_tracklets_camera_id_id", table_name="tracklets")
    op.drop_index("ix_tracklets_video_id_id", table_name="tracklets")
