"""The gallery's tracklets exported as pseudo-identities in the MARS layout that training reads."""

from __future__ import annotations

import datetime as dt
import json

import cv2
import numpy as np
import pytest

from reid.adapt import co_occurring_pairs, export_pseudo_identities
from reid.store import TrackletInfo
from training.datasets.mars import load_mars

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)


def info(tid, camera_id, start_s, end_s, *, video_id=1, start_time=None, crops=()):
    return TrackletInfo(id=tid, video_id=video_id, camera_id=camera_id, camera=f"cam{camera_id}",
                        track_id=tid, first_frame=int(start_s * 10), last_frame=int(end_s * 10),
                        start_s=start_s, end_s=end_s, quality=0.5, crop_paths=tuple(crops),
                        thumbnail_path=None, video_start_time=start_time, has_descriptor=True)


def test_pairs_seen_together_on_one_camera_are_certain_negatives():
    tracklets = [
        info(1, 1, 0.0, 5.0), info(2, 1, 4.0, 9.0),  # overlap on camera 1
        info(3, 1, 9.5, 12.0),  # after both: maybe the same person as either
        info(4, 2, 0.0, 5.0),  # another camera at the same time: maybe the same person
        info(5, 1, 1.0, 2.0, video_id=2),  # camera 1, another video, start time unknown: unknown
        info(6, 3, 0.0, 10.0, video_id=3, start_time=T0),
        info(7, 3, 0.0, 10.0, video_id=4, start_time=T0 + dt.timedelta(seconds=8)),  # overlaps 6
        info(8, 3, 0.0, 1.0, video_id=5, start_time=T0 + dt.timedelta(seconds=60)),
    ]
    assert co_occurring_pairs(tracklets).tolist() == [[0, 1], [5, 6]]
    assert co_occurring_pairs([]).shape == (0, 2)


def _crops(folder, tid, n, colour):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        p = folder / f"{tid}_{k}.jpg"
        cv2.imwrite(str(p), np.full((64, 32, 3), colour, np.uint8))
        paths.append(p)
    return paths


def test_export_is_read_by_the_mars_loader(tmp_path):
    tracklets = [
        info(11, 4, 0.0, 5.0, crops=_crops(tmp_path / "c", 11, 6, 10)),
        info(12, 4, 3.0, 6.0, crops=_crops(tmp_path / "c", 12, 4, 200)),
        info(13, 9, 0.0, 5.0, crops=_crops(tmp_path / "c", 13, 5, 120)),
        info(14, 4, 0.0, 1.0, crops=_crops(tmp_path / "c", 14, 2, 90)),  # too few crops
        info(15, 4, 0.0, 1.0, crops=[tmp_path / "gone.jpg"] * 8),  # crop files missing
    ]
    data = export_pseudo_identities(tracklets, tmp_path / "set", min_crops=4)
    assert data.tracklet_ids == (11, 12, 13) and data.cameras == (0, 0, 1)
    assert data.hard_negatives.tolist() == [[0, 1]]
    mars = load_mars(tmp_path / "set")
    assert mars.num_train_pids == 3 and mars.num_cams == 2
    assert [len(r) for r in mars.train] == [6, 4, 5]
    assert [r.camid for r in mars.train] == [0, 0, 1]
    assert mars.query == () and mars.gallery == ()
    frame = cv2.imread(mars.train[1].frame_paths[0])
    assert frame is not None and abs(int(frame.mean()) - 200) < 3  # tracklet 12's crops
    side = json.loads((tmp_path / "set" / "info" / "pseudo_identities.json").read_text())
    assert side["tracklet_ids"] == [11, 12, 13] and side["hard_negatives"] == [[0, 1]]
    again = export_pseudo_identities(tracklets[:2], tmp_path / "set", min_crops=4)  # replaced
    assert len(load_mars(again.root).train) == 2


def test_export_needs_two_tracklets(tmp_path):
    one = [info(1, 1, 0.0, 1.0, crops=_crops(tmp_path / "c", 1, 5, 50))]
    with pytest.raises(ValueError, match="index more footage"):
        export_pseudo_identities(one, tmp_path / "set")


def test_export_never_deletes_a_folder_it_did_not_write(tmp_path):
    tracklets = [info(1, 1, 0.0, 1.0, crops=_crops(tmp_path / "c", 1, 5, 50)),
                 info(2, 1, 0.0, 1.0, crops=_crops(tmp_path / "c", 2, 5, 90))]
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(ValueError, match="not an earlier pseudo-identity export"):
        export_pseudo_identities(tracklets, precious)
    assert (precious / "thesis.txt").read_text() == "years of work"
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match="not an earlier"):
        export_pseudo_identities(tracklets, tmp_path / "a-file")
    (tmp_path / "empty").mkdir()
    assert len(export_pseudo_identities(tracklets, tmp_path / "empty")) == 2  # an empty folder is fine
