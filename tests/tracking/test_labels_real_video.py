"""The hand-labelled identities of vtest.avi (assets/labels/vtest_identities.json) against the
offline default tracker (SSDLite + ByteTrack) on a short stretch, and the ReID baselines on them.

Floors are the figures measured when the labels were made (frames 0-399: coverage 1.00, IDF1 on the
matched boxes 0.59; full video, 41 tracklets: colour histogram mAP 0.53, random 0.20) minus a margin
that leaves room for tuning the tracker. The labelled boxes are SSDLite's own, so coverage here guards
against regressions (a lost detector, filters dropping people), not the detector's recall.
"""

from pathlib import Path

import numpy as np
import pytest

from tracking import create_detector, track_video
from tracking.boxes import tracklets_to_frames
from tracking.labels import (
    FrameLabels,
    coverage_idf1,
    frame_coverage,
    hsv_histograms,
    label_crops,
    load_frame_labels,
    load_labels,
    reid_rank_scores,
)
from tracking.ssd import find_ssd_graph

from .conftest import VTEST

pytestmark = [pytest.mark.real_video, pytest.mark.slow]

LABELS = Path(__file__).resolve().parents[2] / "assets" / "labels" / "vtest_identities.json"
ALL_PEOPLE = LABELS.with_name("vtest_all_people.json")
FRAMES = 400


@pytest.fixture(scope="module")
def labels():
    if not VTEST.exists():
        pytest.skip(f"{VTEST} missing; run `make sample-data`")
    return load_labels(LABELS)


def test_label_file_is_consistent(labels):
    ids = [t.identity for t in labels]
    assert len(set(ids)) >= 10 and len(labels) >= 41
    # People who leave and come back: several tracklets far apart in time.
    spans = {i: [t.span for t in labels if t.identity == i] for i in set(ids)}
    assert sum(max(e for _, e in s) - min(b for b, _ in s) > 300 for s in spans.values()) >= 4
    for t in labels:
        assert np.all(np.diff(t.frames) > 0) and t.frames[0] >= 0 and t.frames[-1] < 795
        w = t.boxes_xyxy[:, 2] - t.boxes_xyxy[:, 0]
        h = t.boxes_xyxy[:, 3] - t.boxes_xyxy[:, 1]
        assert np.all(w > 5) and np.all(h > w) and np.all(h < 400)


def test_default_offline_tracker_covers_labelled_people(labels):
    if find_ssd_graph() is None:
        pytest.skip("SSDLite graph missing; `reid weights fetch ssdlite-person`")
    tracklets, stats = track_video(VTEST, create_detector("ssd", fallback=False), "bytetrack",
                                   max_frames=FRAMES, with_crops=False)
    assert stats.frames_processed == FRAMES
    r = coverage_idf1(labels, tracklets_to_frames(tracklets), frames=range(FRAMES))
    assert r.num_labelled >= 150
    assert r.coverage >= 0.85, r
    assert r.idf1 >= 0.45, r
    # every person of the frames checked by eye (34 people in frames 40-360): 0.85 measured with two
    # strips and the tuned thresholds; 0.65 with the whole frame and the earlier thresholds
    everyone = load_frame_labels(ALL_PEOPLE)
    early = FrameLabels({f: b for f, b in everyone.boxes.items() if f < FRAMES},
                        {f: n for f, n in everyone.unboxed.items() if f < FRAMES})
    assert early.num_people >= 30
    assert frame_coverage(early, tracklets_to_frames(tracklets)) >= 0.78


def test_reid_baselines_behave_on_labelled_tracklets(labels):
    ids = np.array([t.identity for t in labels])
    spans = np.array([t.span for t in labels])
    crops = label_crops(VTEST, labels)
    assert all(len(c) == len(t.frames) for c, t in zip(crops, labels, strict=True))
    hist = reid_rank_scores(hsv_histograms(crops), ids, spans)
    rand = [reid_rank_scores(np.random.default_rng(s).standard_normal((len(ids), 64)), ids, spans)
            for s in range(20)]
    rand_map = float(np.mean([r.mean_ap for r in rand]))
    assert hist.num_queries >= 35
    assert rand_map < 0.32
    assert hist.mean_ap > rand_map + 0.15


def test_offline_descriptor_beats_the_colour_histogram_as_a_gallery_compares_it(labels):
    """Measured when the descriptor was chosen: mAP 0.875 (no time overlap) and 0.875 (came back
    after >= 5 s) against the histogram's 0.53 and 0.57 (benchmarks/reid_labelled.py)."""
    from reid.embed import create_embedder
    from reid.store import VectorIndex

    ids = np.array([t.identity for t in labels])
    spans = np.array([t.span for t in labels])
    crops = label_crops(VTEST, labels)
    desc = create_embedder("mobilenet").embed_tracklets(crops)
    centred = VectorIndex.build(desc.shape[1], np.arange(len(desc)), desc).prepare(desc)
    hist = hsv_histograms(crops)
    for gap in (1, 50):
        ours = reid_rank_scores(centred, ids, spans, gap)
        base = reid_rank_scores(hist, ids, spans, gap)
        assert ours.mean_ap >= 0.80 and ours.mean_ap >= base.mean_ap + 0.2, (gap, ours, base)
        assert ours.rank1 >= 0.9, (gap, ours)


def test_stride_2_still_covers_the_labelled_people_on_every_frame(labels):
    """Measured when the stride measures came in (frames 0-399, stride 2, SSDLite in 2 strips):
    coverage 0.90, 0.90 on the odd frames the detector skips, IDF1 on the matched boxes 0.64 (one
    strip: 0.91, 0.89, 0.58; without the measures 0.42, 0.00 on the odd frames)."""
    if find_ssd_graph() is None:
        pytest.skip("SSDLite graph missing; `reid weights fetch ssdlite-person`")
    tracklets, stats = track_video(VTEST, create_detector("ssd", fallback=False), "bytetrack",
                                   stride=2, max_frames=FRAMES, with_crops=False)
    assert stats.frames_processed == FRAMES // 2 and stats.filled_boxes > 0
    hyp = tracklets_to_frames(tracklets)
    r = coverage_idf1(labels, hyp, frames=range(FRAMES))
    skipped = coverage_idf1(labels, hyp, frames=range(1, FRAMES, 2))
    assert r.coverage >= 0.8, r
    assert skipped.num_labelled >= 75 and skipped.coverage >= 0.75, skipped
    assert r.idf1 >= 0.45, r
