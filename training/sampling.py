"""Frame sampling (spec 3.1 / 4.1) and the P x K identity batch sampler (spec 3.3)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np

logger = logging.getLogger(__name__)


def _segments(n_frames: int, seq_len: int) -> np.ndarray:
    """Index list 0..N-1 padded with the last index to seq_len*L, as (seq_len, L) segments."""
    length = -(-n_frames // seq_len)
    idx = np.arange(length * seq_len)
    idx[n_frames:] = n_frames - 1
    return idx.reshape(seq_len, length)


def rrs_indices(n_frames: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """Restricted random sampling for training: one random frame per segment, shape (seq_len,).

    N >= seq_len: the (padded) index list is cut into ``seq_len`` contiguous segments of
    ceil(N/seq_len) and one position is drawn uniformly in each. N < seq_len: 0..N-1 then the last
    frame repeated.
    """
    if n_frames < 1:
        raise ValueError(f"a tracklet needs at least one frame, got {n_frames}")
    if n_frames < seq_len:
        return np.minimum(np.arange(seq_len), n_frames - 1)
    seg = _segments(n_frames, seq_len)
    return seg[np.arange(seq_len), rng.integers(0, seg.shape[1], seq_len)]


def rrs_test_indices(n_frames: int, seq_len: int) -> np.ndarray:
    """Deterministic RRS ("rrs_test"): the first frame of each segment, shape (seq_len,)."""
    if n_frames < 1:
        raise ValueError(f"a tracklet needs at least one frame, got {n_frames}")
    if n_frames < seq_len:
        return np.minimum(np.arange(seq_len), n_frames - 1)
    return _segments(n_frames, seq_len)[:, 0].copy()


class IdentityBatchSampler:
    """P identities x K tracklets per batch (spec 3.3); yields lists of P*K dataset indices.

    Per epoch: each identity's tracklets are shuffled and cut into groups of K (identities with
    fewer than K are resampled with replacement up to K; leftover groups smaller than K are
    dropped); then P random identities that still have groups each give one group, until fewer than
    P such identities remain.

    Distributed (``world_size > 1``): every rank builds the same epoch plan from ``seed + epoch``,
    the batch count is cut to a multiple of ``world_size`` and rank r takes batches r, r+W, ...
    so each rank sees whole P x K batches (triplet mining stays within a rank's batch). Call
    :meth:`set_epoch` before each epoch.
    """

    def __init__(
        self, pids: Sequence[int], p: int = 4, k: int = 4, seed: int = 0,
        rank: int = 0, world_size: int = 1,
    ) -> None:
        self.by_pid: dict[int, list[int]] = defaultdict(list)
        for i, pid in enumerate(pids):
            self.by_pid[int(pid)].append(i)
        if len(self.by_pid) < p:
            raise ValueError(f"P x K sampling needs at least P={p} identities, got {len(self.by_pid)}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.p, self.k, self.seed = p, k, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._len = len(self._plan())

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose plan is drawn (same on every rank)."""
        self.epoch = epoch
        self._len = len(self._plan())

    def _plan(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        groups: dict[int, list[list[int]]] = {}
        for pid, idxs in self.by_pid.items():
            idxs = list(idxs)
            if len(idxs) < self.k:
                idxs = list(rng.choice(idxs, size=self.k, replace=True))
            idxs = [idxs[i] for i in rng.permutation(len(idxs))]
            groups[pid] = [idxs[i:i + self.k] for i in range(0, len(idxs) - self.k + 1, self.k)]
        batches = []
        available = [pid for pid in groups if groups[pid]]
        while len(available) >= self.p:
            chosen = rng.choice(len(available), size=self.p, replace=False)
            batch: list[int] = []
            for c in chosen:
                batch.extend(int(i) for i in groups[available[c]].pop(0))
            batches.append(batch)
            available = [pid for pid in available if groups[pid]]
        usable = len(batches) - len(batches) % self.world_size
        return batches[self.rank:usable:self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._plan()

    def __len__(self) -> int:
        return self._len
