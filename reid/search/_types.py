"""Search options and results (plain values)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reid.store import TrackletInfo

__all__ = ["Match", "Ranking", "SearchFilters", "SearchOptions"]


@dataclass(frozen=True)
class SearchFilters:
    """Which gallery tracklets may be returned.

    Attributes:
        cameras: only these camera names (None: all).
        time_from: window start; an aware/naive-UTC ``datetime`` compares absolute times (video
            start time + tracklet seconds; tracklets of videos without a start time are then
            excluded), a float compares seconds from each video's first frame.
        time_to: window end, same convention as ``time_from``. A tracklet passes when its
            ``[start, end]`` overlaps the window.
        min_duration_s: minimum tracklet length in seconds.
        exclude_same_video: drop tracklets of the query tracklet's video.
        exclude_same_camera: drop tracklets of the query tracklet's camera.
        min_score: drop results whose cosine score is below this.
    """

    cameras: Sequence[str] | None = None
    time_from: dt.datetime | float | None = None
    time_to: dt.datetime | float | None = None
    min_duration_s: float = 0.0
    exclude_same_video: bool = False
    exclude_same_camera: bool = False
    min_score: float | None = None

    def __post_init__(self) -> None:
        kinds = {isinstance(t, dt.datetime) for t in (self.time_from, self.time_to)
                 if t is not None}
        if len(kinds) > 1:
            raise ValueError("time_from and time_to must both be datetimes or both be seconds")


@dataclass(frozen=True)
class SearchOptions:
    """How a search runs.

    Attributes:
        k: results wanted.
        candidates: FAISS candidates taken before filtering and re-ranking (grown automatically
            when filters leave fewer than ``k``).
        rerank: k-reciprocal re-ranking of the candidates (Zhong et al. 2017).
        k1, k2, lambda_value: re-ranking parameters (see ``k_reciprocal_rerank``).
        query_expansion: average the query with its top ``qe_top`` results and search again.
        qe_top: neighbours used by query expansion.
        use_feedback: for tracklet queries, confirmed matches join the query and rejected ones
            are dropped from the results.
    """

    k: int = 20
    candidates: int = 200
    rerank: bool = False
    k1: int = 20
    k2: int = 6
    lambda_value: float = 0.3
    query_expansion: bool = False
    qe_top: int = 5
    use_feedback: bool = True

    def __post_init__(self) -> None:
        if self.k < 1 or self.candidates < 1 or self.qe_top < 1:
            raise ValueError("k, candidates and qe_top must be >= 1")


@dataclass(frozen=True)
class Match:
    """One search hit: the stored tracklet (the store's own record, as search read it: no second
    fetch), its cosine similarity ``score`` in [-1, 1] and its ``rank`` (1-based).

    ``feedback``: True when saved feedback confirmed it as the query's person (None: no feedback);
    ``rerank_distance``: set when k-reciprocal re-ranking ordered the results (smaller is better).
    """

    tracklet: TrackletInfo
    score: float
    rank: int
    feedback: bool | None = None
    rerank_distance: float | None = None


@dataclass
class Ranking:
    """What one search found, best first, and how.

    Attributes:
        matches: ranked matches.
        query_tracklet_id: the query tracklet (None for a vector query).
        candidates: how many FAISS candidates were considered.
        reranked: whether k-reciprocal re-ranking ordered the results.
        expanded: whether query expansion was applied.
        confirmed: feedback-confirmed tracklets that joined the query.
        rejected: feedback-rejected tracklets dropped from the results.
    """

    matches: list[Match] = field(default_factory=list)
    query_tracklet_id: int | None = None
    candidates: int = 0
    reranked: bool = False
    expanded: bool = False
    confirmed: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
