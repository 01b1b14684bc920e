"""What people and processes said about the gallery: feedback verdicts and the audit log."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from reid.store._models import AuditRow, FeedbackRow, TrackletRow, utcnow
from reid.store._records import AuditEntry
from reid.store._shared import GalleryContext, chunks

logger = logging.getLogger(__name__)

__all__ = ["Annotations"]


class Annotations:
    """Feedback (``same`` / ``not same`` between two tracklets) and audit entries of a gallery."""

    def __init__(self, context: GalleryContext) -> None:
        self._ctx = context

    def add_feedback(self, query_id: int, candidate_id: int, same: bool, *,
                     actor: str | None = None) -> int:
        """Record that ``candidate_id`` is (``same=True``) or is not the query's person."""
        if query_id == candidate_id:
            raise ValueError("feedback needs two different tracklets")
        self._ctx.require_writable()
        with self._ctx.db.begin() as s:
            for tid in (query_id, candidate_id):
                if s.get(TrackletRow, tid) is None:
                    raise KeyError(f"no tracklet with id {tid}")
            fb = FeedbackRow(query_tracklet_id=query_id, candidate_tracklet_id=candidate_id,
                          same=bool(same), actor=actor)
            s.add(fb)
            s.flush()
            return fb.id

    def get_feedback(self, tracklet_id: int) -> tuple[list[int], list[int]]:
        """``(confirmed, rejected)`` tracklet ids judged against ``tracklet_id`` (either side of
        the pair; the latest verdict on a pair wins)."""
        with self._ctx.db() as s:
            rows = s.execute(select(FeedbackRow).where(or_(
                FeedbackRow.query_tracklet_id == tracklet_id,
                FeedbackRow.candidate_tracklet_id == tracklet_id)).order_by(FeedbackRow.id)).scalars()
            verdict: dict[int, bool] = {}
            for fb in rows:
                other = (fb.candidate_tracklet_id if fb.query_tracklet_id == tracklet_id
                         else fb.query_tracklet_id)
                verdict[other] = fb.same
        return ([k for k, v in verdict.items() if v], [k for k, v in verdict.items() if not v])

    @staticmethod
    def forget(s: Session, tracklet_ids: Sequence[int]) -> None:
        """Delete, in session ``s``, the feedback naming any of ``tracklet_ids``."""
        for part in chunks(tracklet_ids):
            s.execute(delete(FeedbackRow).where(or_(FeedbackRow.query_tracklet_id.in_(part),
                                                 FeedbackRow.candidate_tracklet_id.in_(part))))

    @staticmethod
    def record(s: Session, actor: str, action: str, details: dict[str, Any] | None = None) -> None:
        """Add an audit entry in session ``s`` (committed with the change it describes)."""
        s.add(AuditRow(actor=actor, action=action, details=dict(details or {})))

    def log_action(self, actor: str, action: str, details: dict[str, Any] | None = None) -> None:
        """Append an audit-log entry (JSON-serialisable ``details``).

        A read-only gallery cannot record it: the entry is logged (WARNING) instead, so that
        searching a read-only gallery still works.
        """
        if self._ctx.read_only:
            logger.warning("read-only gallery: audit entry not recorded: %s %s %s", actor, action,
                           json.dumps(details or {}, default=str)[:500])
            return
        with self._ctx.db.begin() as s:
            self.record(s, actor, action, details)

    def log_actions(self, entries: Sequence[tuple[str, str, dict[str, Any] | None]]) -> None:
        """Append several ``(actor, action, details)`` audit entries in one transaction (one
        multi-row insert: a server writing its searches' entries in batches); read-only: logged
        as in ``log_action``."""
        if not entries:
            return
        if self._ctx.read_only:
            for actor, action, details in entries:
                self.log_action(actor, action, details)
            return
        rows = [{"actor": actor, "action": action, "details": dict(details or {}),
                 "created_at": utcnow()} for actor, action, details in entries]
        with self._ctx.db.begin() as s:
            s.execute(insert(AuditRow), rows)

    def audit_entries(self, *, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest audit entries, newest first."""
        q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if action is not None:
            q = q.where(AuditRow.action == action)
        with self._ctx.db() as s:
            return [AuditEntry(a.id, a.actor, a.action, dict(a.details), a.created_at)
                    for a in s.scalars(q)]
