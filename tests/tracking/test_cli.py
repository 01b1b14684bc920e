import json

from app.cli import main
from tracking.video import VideoReader


def test_reid_track_writes_json_and_annotated_video(simple_scene, tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    _, path = simple_scene
    out, ann = tmp_path / "t.json", tmp_path / "ann.avi"
    code = main(["track", str(path), "--detector", "hog", "--hog-max-side", "320",
                 "--stride", "2", "--max-frames", "40", "--out", str(out), "--annotated", str(ann)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["frames_processed"] == 20 and data["stride"] == 2 and data["fps"] == 10.0
    assert isinstance(data["tracklets"], list)
    reader = VideoReader(ann)
    assert reader.info.fps == 5.0 and len(list(reader)) == 20


def test_reid_track_reports_a_bad_video_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert main(["track", str(bad), "--detector", "hog", "--out", str(tmp_path / "x.json")]) == 1
    assert "not a video" in capsys.readouterr().err
