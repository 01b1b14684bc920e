"""Rescorer: scores read from the re-scoring copy's codes equal the copy's decoded vectors' scores,
whatever the order of its ids, after appends and removals, with padded candidates."""

import faiss
import numpy as np
import pytest

from reid.store.index.rescore import Rescorer

QTYPES = {"sq8": faiss.ScalarQuantizer.QT_8bit, "fp16": faiss.ScalarQuantizer.QT_fp16}


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _copy(qtype: str, d: int = 64) -> faiss.IndexIDMap2:
    sq = faiss.IndexScalarQuantizer(d, QTYPES[qtype], faiss.METRIC_INNER_PRODUCT)
    sq.train(_unit(2000, d, 99))
    return faiss.IndexIDMap2(sq)


def _decoded_scores(copy: faiss.IndexIDMap2, q: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """The reference: the copy's own decoding of each candidate, then inner products."""
    out = np.full(cand.shape, -np.inf, np.float32)
    for i, row in enumerate(cand):
        valid = row >= 0
        if valid.any():
            out[i, valid] = copy.reconstruct_batch(row[valid]) @ q[i]
    return out


def _add(copy: faiss.IndexIDMap2, rescorer: Rescorer, ids: np.ndarray, seed: int) -> None:
    rescorer.add(ids, _unit(len(ids), copy.d, seed))


@pytest.mark.parametrize("qtype", ["sq8", "fp16"])
def test_scores_match_the_decoded_vectors(qtype: str) -> None:
    copy = _copy(qtype)
    rescorer = Rescorer(copy)
    ids = np.arange(1000, dtype=np.int64) * 7 + 3  # ascending, with gaps
    _add(copy, rescorer, ids, 0)
    rng = np.random.default_rng(1)
    cand = rng.choice(ids, (3, 600))  # more than one block of 256
    cand[1, ::5] = -1  # padding from a search with fewer results
    cand[2, :] = -1
    q = _unit(3, copy.d, 2)
    got = rescorer.scores(q, cand)
    want = _decoded_scores(copy, q, cand)
    assert np.array_equal(np.isinf(got), np.isinf(want))
    assert np.allclose(got[np.isfinite(got)], want[np.isfinite(want)], atol=1e-5)
    assert rescorer._rows(ids) is not None  # the code path under test, not the fallback


@pytest.mark.parametrize("qtype", ["sq8", "fp16"])
def test_unordered_ids_appends_and_removals(qtype: str) -> None:
    copy = _copy(qtype)
    rescorer = Rescorer(copy)
    _add(copy, rescorer, np.arange(100, 400, dtype=np.int64), 0)
    q = _unit(2, copy.d, 3)
    rng = np.random.default_rng(4)

    def check(pool: np.ndarray) -> None:
        cand = rng.choice(pool, (2, 300))
        assert np.allclose(rescorer.scores(q, cand), _decoded_scores(copy, q, cand), atol=1e-5)

    check(np.arange(100, 400))
    _add(copy, rescorer, np.arange(400, 500, dtype=np.int64), 1)  # past the table: it grows
    check(np.arange(100, 500))
    copy.remove_ids(faiss.IDSelectorBatch(np.arange(150, 250, dtype=np.int64)))  # rows shift
    check(np.concatenate([np.arange(100, 150), np.arange(250, 500)]))
    _add(copy, rescorer, np.arange(0, 50, dtype=np.int64)[::-1].copy(), 2)  # below, unordered
    pool = np.concatenate([np.arange(0, 50), np.arange(250, 500)])
    check(pool)
    assert rescorer._rows(pool) is not None
    _add(copy, rescorer, np.array([10**9], np.int64), 3)  # far too sparse for a table
    check(np.concatenate([pool, [10**9]]))
    assert rescorer._rows(pool) is None


def test_an_absent_id_falls_back_to_the_copy() -> None:
    copy = _copy("sq8")
    rescorer = Rescorer(copy)
    _add(copy, rescorer, np.arange(10, dtype=np.int64) * 2, 0)
    # 3 lies between stored ids: the binary search must not score another vector for it; the
    # copy itself refuses an absent id
    with pytest.raises(RuntimeError):
        rescorer.scores(_unit(1, copy.d, 1), np.array([[2, 3]], np.int64))


def test_holds_any_through_the_table_after_appends_removals_and_re_adds():
    copy = _copy("sq8")
    rescorer = Rescorer(copy)
    _add(copy, rescorer, np.arange(100, 400, dtype=np.int64), 0)

    def holds(*keys: int) -> bool:
        return rescorer.holds_any(np.array(keys, np.int64))

    assert holds(100) and holds(5, 399) and not holds(5, 400, 10**6, -1)
    assert rescorer._table is not None  # answered by the table, not the fallback
    _add(copy, rescorer, np.arange(400, 450, dtype=np.int64), 1)
    assert holds(449) and not holds(450)
    copy.remove_ids(faiss.IDSelectorBatch(np.arange(100, 200, dtype=np.int64)))  # rows shift
    assert not holds(150) and holds(250) and holds(150, 420)
    _add(copy, rescorer, np.array([150], np.int64), 2)  # a removed id given again
    assert holds(150) and not holds(151)
    _add(copy, rescorer, np.array([10**9], np.int64), 3)  # too sparse for a table
    assert holds(10**9) and holds(300) and not holds(151)
