"""Search: oracle ranking, filters, time-overlap exclusion, feedback, re-ranking."""

import datetime as dt

import numpy as np
import pytest

from reid.search import (
    SearchFilters,
    SearchOptions,
    k_reciprocal_rerank,
    search_tracklet,
    search_vectors,
)
from reid.store import Store
from tests.store.helpers import FP, T0, person_gallery, record, unit


@pytest.fixture
def gallery(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        yield store, person_gallery(store, people=6, cameras=3)


@pytest.mark.parametrize("rerank", [False, True])
def test_oracle_ranks_same_person_other_cameras_first(gallery, rerank):
    store, truth = gallery
    opts = SearchOptions(k=10, rerank=rerank, k1=3, k2=1)
    for tid, (person, cam) in truth.items():
        resp = search_tracklet(store, tid, options=opts)
        expected = {t for t, (p, c) in truth.items() if p == person and c != cam}
        top = [r.tracklet.id for r in resp.matches[:len(expected)]]
        assert set(top) == expected, (tid, top)
        assert tid not in [r.tracklet.id for r in resp.matches]
        assert resp.reranked == rerank


def test_same_camera_overlap_is_excluded_but_later_fragment_kept(tmp_path, db_url):
    with Store.open(tmp_path, db_url=db_url) as store:
        vid = store.add_video("/v.mp4", "h", "lobby", start_time=T0)
        v = unit(np.ones((4, 16)) + 0.01 * np.eye(4, 16))
        q, overlapping, touching, later = store.add_tracklets(
            vid, [record(1, 0, 10), record(2, 5, 15), record(3, 10, 12), record(4, 30, 40)], v, FP)
        got = [r.tracklet.id for r in search_tracklet(store, q).matches]
        assert overlapping not in got and q not in got
        assert set(got) == {touching, later}
        # another video of the same camera, overlapping in absolute time
        vid2 = store.add_video("/v2.mp4", "h2", "lobby", start_time=T0 + dt.timedelta(seconds=3))
        (other,) = store.add_tracklets(vid2, [record(1, 0, 2)], v[:1], FP)
        assert other not in [r.tracklet.id for r in search_tracklet(store, q).matches]


def test_filters(gallery):
    store, truth = gallery
    tid = next(t for t, (p, c) in truth.items() if (p, c) == (0, 0))
    def ids(**kw):
        return {r.tracklet.id for r in search_tracklet(store, tid, SearchFilters(**kw)).matches}
    def cams(**kw):
        return {truth[i][1] for i in ids(**kw)}
    assert cams(cameras=["cam2"]) == {2}
    assert cams(exclude_same_camera=True) == {1, 2} and cams(exclude_same_video=True) == {1, 2}
    # camera c starts at T0 + 5c minutes; person p walks from 1+p to 20+p seconds
    assert cams(time_from=T0 + dt.timedelta(minutes=9)) == {2}
    assert cams(time_to=T0 + dt.timedelta(minutes=6)) == {1}  # cam0 peers overlap the query
    assert {truth[i][0] for i in ids(time_from=24.0)} == {4, 5}  # video seconds: ends >= 24
    assert {truth[i][0] for i in ids(min_duration_s=19.5)} == set()
    assert all(r.score >= 0.9 for r in search_tracklet(
        store, tid, SearchFilters(min_score=0.9)).matches)
    assert {truth[i][0] for i in ids(min_score=0.9)} == {0}
    with pytest.raises(ValueError):
        SearchFilters(time_from=1.0, time_to=T0)


def test_vector_query_ranks_its_tracklet_first_and_checks_dim(gallery):
    store, truth = gallery
    tid = next(t for t, (p, c) in truth.items() if (p, c) == (2, 1))
    q = store.get_descriptors([tid])
    resp = search_vectors(store, np.vstack([q, q]), options=SearchOptions(k=3))
    assert resp.matches[0].tracklet.id == tid and resp.matches[0].score == pytest.approx(1, abs=1e-5)
    assert [m.rank for m in resp.matches] == [1, 2, 3]
    assert resp.matches[0].tracklet.start_time == T0 + dt.timedelta(minutes=5, seconds=3)
    with pytest.raises(ValueError, match="dimension"):
        search_vectors(store, np.ones(8))


def test_feedback_joins_and_drops(gallery):
    store, truth = gallery
    tid = next(t for t, (p, c) in truth.items() if (p, c) == (1, 0))
    base = search_tracklet(store, tid, options=SearchOptions(k=15))
    wrong = base.matches[-1].tracklet.id
    right = base.matches[0].tracklet.id
    store.add_feedback(tid, wrong, same=False)
    store.add_feedback(tid, right, same=True)
    resp = search_tracklet(store, tid, options=SearchOptions(k=15))
    assert resp.rejected == [wrong] and resp.confirmed == [right]
    assert wrong not in [r.tracklet.id for r in resp.matches]
    off = search_tracklet(store, tid, options=SearchOptions(k=15, use_feedback=False))
    assert wrong in [r.tracklet.id for r in off.matches]


def test_query_expansion_keeps_oracle_ranking(gallery):
    store, truth = gallery
    for tid, (person, _cam) in list(truth.items())[:6]:
        resp = search_tracklet(store, tid, options=SearchOptions(k=5, query_expansion=True,
                                                                   qe_top=2))
        assert resp.expanded
        assert {truth[r.tracklet.id][0] for r in resp.matches[:2]} == {person}


def test_candidates_grow_when_filters_remove_most(gallery):
    store, truth = gallery
    tid = next(iter(truth))
    resp = search_tracklet(store, tid, SearchFilters(cameras=["cam2"]),
                           SearchOptions(k=6, candidates=2))
    assert len(resp.matches) == 6 and resp.candidates > 2


def test_rerank_fixes_a_hand_made_ranking():
    # query at the origin; its person is a tight cluster at x ~ 1.3; a distractor at x = -1.0 is
    # nearer, but its own neighbours are its cluster at x ~ -1.5, not the query.
    q = np.array([[0.0, 0.0]])
    g = np.array([[1.2, 0.0], [1.3, 0.15], [1.3, -0.15], [1.4, 0.0],
                  [-1.0, 0.0], [-1.4, 0.1], [-1.4, -0.1], [-1.5, 0.0], [-1.6, 0.0]])
    def dist(a, b):
        return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    q_g = dist(q, g)
    assert np.argmin(q_g[0]) == 4
    final = k_reciprocal_rerank(q_g, dist(q, q), dist(g, g), k1=4, k2=1, lambda_value=0.3)
    assert final.shape == (1, 9)
    assert set(np.argsort(final[0])[:4]) == {0, 1, 2, 3}
    same = k_reciprocal_rerank(q_g, dist(q, q), dist(g, g), lambda_value=1.0)
    np.testing.assert_allclose(same, q_g, rtol=1e-6)
