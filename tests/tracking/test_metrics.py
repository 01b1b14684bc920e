from itertools import permutations

import numpy as np

from tests.support.metrics import evaluate_mot
from tracking.boxes import iou_matrix


def _box(x: float, y: float = 0.0, w: float = 10.0, h: float = 20.0) -> list[float]:
    return [x, y, x + w, y + h]


def _frames(seq: dict[int, list[tuple[int, list[float]]]]) -> dict:
    return {
        f: (np.array([i for i, _ in items]), np.array([b for _, b in items], dtype=np.float32))
        for f, items in seq.items()
    }


def test_iou_matrix_known_values():
    a = np.array([_box(0)])
    b = np.array([_box(0), _box(5), _box(100)])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 100 / 300, 0.0]], rtol=1e-6)


def test_perfect_tracking_scores_one():
    gt = _frames({f: [(1, _box(f)), (2, _box(50 + f))] for f in range(10)})
    hyp = _frames({f: [(7, _box(f)), (9, _box(50 + f))] for f in range(10)})
    r = evaluate_mot(gt, hyp)
    assert r.mota == 1.0 and r.idf1 == 1.0 and r.id_switches == 0


def test_one_switch_hand_computed():
    # GT id 1 for 10 frames; hypothesis changes id from 5 to 6 at frame 4.
    gt = _frames({f: [(1, _box(f))] for f in range(10)})
    hyp = _frames({f: [(5 if f < 4 else 6, _box(f))] for f in range(10)})
    r = evaluate_mot(gt, hyp)
    assert (r.false_negatives, r.false_positives, r.id_switches) == (0, 0, 1)
    assert np.isclose(r.mota, 1 - 1 / 10)
    # Best identity mapping keeps id 6 (6 frames): IDF1 = 2*6 / (10 + 10).
    assert r.idtp == 6 and np.isclose(r.idf1, 0.6)


def test_misses_and_false_positives_hand_computed():
    gt = _frames({0: [(1, _box(0))], 1: [(1, _box(1))], 2: [(1, _box(2))]})
    hyp = _frames({0: [(3, _box(0))], 1: [(3, _box(40))], 2: [(3, _box(2))]})
    r = evaluate_mot(gt, hyp)
    assert (r.false_negatives, r.false_positives, r.id_switches) == (1, 1, 0)
    assert np.isclose(r.mota, 1 - 2 / 3) and np.isclose(r.idf1, 2 * 2 / 6)


def _brute_force_idtp(gt: dict, hyp: dict) -> int:
    gids = sorted({int(i) for ids, _ in gt.values() for i in ids})
    hids = sorted({int(i) for ids, _ in hyp.values() for i in ids})
    counts = {}
    for f in gt:
        if f not in hyp:
            continue
        iou = iou_matrix(gt[f][1], hyp[f][1])
        for a, g in enumerate(gt[f][0]):
            for b, h in enumerate(hyp[f][0]):
                if iou[a, b] >= 0.5:
                    counts[(int(g), int(h))] = counts.get((int(g), int(h)), 0) + 1
    hids_padded = hids + [None] * len(gids)
    best = 0
    for perm in permutations(hids_padded, len(gids)):
        best = max(best, sum(counts.get((g, h), 0) for g, h in zip(gids, perm, strict=True)))
    return best


def test_idf1_matches_brute_force_on_random_sequences():
    rng = np.random.default_rng(0)
    for _ in range(20):
        gt, hyp = {}, {}
        for f in range(12):
            g_items, h_items = [], []
            hyp_ids = rng.permutation([10, 11, 12, 13])
            for g in range(3):
                if rng.random() < 0.8:
                    x = 30.0 * g + f
                    g_items.append((g, _box(x)))
                    if rng.random() < 0.85:
                        h_items.append((int(hyp_ids[g]), _box(x + rng.normal(0, 1))))
            gt[f], hyp[f] = g_items, h_items
        gt_f = {f: v for f, v in _frames(gt).items() if len(v[0])}
        hyp_f = {f: v for f, v in _frames(hyp).items() if len(v[0])}
        r = evaluate_mot(gt_f, hyp_f)
        assert r.idtp == _brute_force_idtp(gt_f, hyp_f)
