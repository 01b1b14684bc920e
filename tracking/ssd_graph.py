"""OpenCV text graph (``.pbtxt``) for a TensorFlow Object Detection API SSD frozen graph, without TensorFlow.

``cv2.dnn`` cannot run the TF graph as exported (its pre/post-processing uses TensorArrays, while
loops and NMS ops OpenCV does not implement). Given a text description of the network it can:
the backbone and box predictors of the frozen graph, plus OpenCV's own ``PriorBox`` and
``DetectionOutput`` layers in place of the TF anchor generator and post-processor. This module
writes that description:

1. ``cv2.dnn.writeTextGraph`` dumps the frozen graph's structure as text (no weights);
2. :func:`rewrite_ssd_text_graph` drops the TF pre/post-processing, anchor generator and constant
   nodes (weights stay in the ``.pb``), bypasses ``Identity`` nodes (following chains of them to
   their end), keeps the graph's own input scaling (``Preprocessor/mul``, ``Preprocessor/sub``)
   and appends flatten/concat, ``PriorBox`` (one per feature map) and ``DetectionOutput`` nodes.

The anchors must match the ``ssd_anchor_generator`` the model was trained with (:class:`SSDAnchors`);
the number of anchors per layer is checked against the box predictors' bias shapes in the graph.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2

logger = logging.getLogger(__name__)

# Ops that stay in the network description; everything else is TF plumbing OpenCV replaces.
_KEEP_OPS = frozenset({
    "Conv2D", "BiasAdd", "Add", "AddV2", "Relu", "Relu6", "Placeholder", "FusedBatchNorm",
    "FusedBatchNormV3", "DepthwiseConv2dNative", "ConcatV2", "Mul", "Sub", "MaxPool", "AvgPool",
    "Pad", "ResizeNearestNeighbor", "Mean",
})
# TF-only sub-graphs; ``Preprocessor/map`` is the resize loop (the caller resizes), while
# ``Preprocessor/mul`` and ``Preprocessor/sub`` (pixel scaling to [-1, 1]) are kept.
_DROP_PREFIXES = ("MultipleGridAnchorGenerator/", "Concatenate/", "Postprocessor/", "Preprocessor/map")
# Attributes the OpenCV importer does not read.
_UNUSED_ATTRS = frozenset({
    "T", "data_format", "Tshape", "N", "Tidx", "Tdim", "use_cudnn_on_gpu", "Index", "Tperm",
    "is_training", "Tpaddings", "U", "explicit_paddings",
})
OUTPUT_NODE = "detection_out"


class TextGraphError(ValueError):
    """The graph is not the SSD layout this rewrite expects (other anchors, other head names)."""


@dataclass(frozen=True)
class SSDAnchors:
    """The ``ssd_anchor_generator`` and post-processing settings of a TF Object Detection API SSD.

    Attributes:
        num_classes: object classes, background excluded (the person-only model: 1).
        image_size: ``(width, height)`` of the network input in pixels.
        num_layers: feature maps carrying a box predictor (``BoxPredictor_0`` ... ``_{n-1}``).
        min_scale, max_scale: anchor scale of the first and last layer, as fractions of the input.
        aspect_ratios: width/height ratios of each layer's anchors.
        reduce_boxes_in_lowest_layer: layer 0 has only 3 anchors (0.1 scale square, 2 and 0.5 ratios).
        variances: box-encoding variances ``(x, y, w, h)``.
        nms_threshold: IoU above which ``DetectionOutput`` suppresses the lower-scored box.
        confidence_threshold: scores kept by ``DetectionOutput`` (callers filter further).
        keep_top_k: most detections per image.
    """

    num_classes: int = 1
    image_size: tuple[int, int] = (300, 300)
    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    reduce_boxes_in_lowest_layer: bool = True
    variances: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)
    nms_threshold: float = 0.6
    confidence_threshold: float = 0.01
    keep_top_k: int = 100

    def scales(self) -> list[float]:
        """Per-layer anchor scales (linear from min to max), plus 1.0 for the last interpolation."""
        n = self.num_layers
        return [self.min_scale + (self.max_scale - self.min_scale) * i / (n - 1) for i in range(n)] + [1.0]

    def layer_boxes(self, layer: int) -> tuple[list[float], list[float]]:
        """Anchor widths and heights of ``layer``, in input pixels."""
        s = self.scales()
        if layer == 0 and self.reduce_boxes_in_lowest_layer:
            ws = [0.1, self.min_scale * math.sqrt(2.0), self.min_scale * math.sqrt(0.5)]
            hs = [0.1, self.min_scale / math.sqrt(2.0), self.min_scale / math.sqrt(0.5)]
        else:
            ws = [s[layer] * math.sqrt(a) for a in self.aspect_ratios]
            hs = [s[layer] / math.sqrt(a) for a in self.aspect_ratios]
            mid = math.sqrt(s[layer] * s[layer + 1])
            ws.append(mid)
            hs.append(mid)
        w, h = self.image_size
        return [x * w for x in ws], [y * h for y in hs]


@dataclass
class _Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: list[tuple[str, str]] = field(default_factory=list)  # (key, value block as text)
    shape: tuple[int, ...] | None = None  # a Const's tensor shape, when the text states it


_NODE_RE = re.compile(r"^node \{\n(.*?)^\}\n", re.S | re.M)
_FIELD_RE = re.compile(r'^  (name|op|input): "((?:[^"\\]|\\.)*)"$', re.M)
_ATTR_RE = re.compile(r'^  attr \{\n    key: "([^"]*)"\n    value \{\n(.*?)^    \}\n  \}$', re.S | re.M)
_DIM_RE = re.compile(r"^\s*size: (-?\d+)$", re.M)


def parse_text_graph(text: str) -> list[_Node]:
    """The nodes of a GraphDef in protobuf text format as ``cv2.dnn.writeTextGraph`` prints it.

    Raises:
        TextGraphError: no node could be read.
    """
    nodes = []
    for block in _NODE_RE.findall(text):
        fields = _FIELD_RE.findall(block)
        name = next((v for k, v in fields if k == "name"), None)
        op = next((v for k, v in fields if k == "op"), None)
        if name is None or op is None:
            raise TextGraphError("a node without name or op in the text graph")
        attrs = _ATTR_RE.findall(block)
        shape = None
        for key, value in attrs:
            if op == "Const" and key == "value" and "tensor_shape" in value:
                shape = tuple(int(d) for d in _DIM_RE.findall(value.split("tensor_shape", 1)[1]))
        nodes.append(_Node(name, op, [v for k, v in fields if k == "input"], attrs, shape))
    if not nodes:
        raise TextGraphError("the text graph holds no nodes")
    return nodes


def _source(name: str) -> str:
    """``node:1`` -> ``node``; ``^ctrl`` -> ``ctrl``."""
    return name.lstrip("^").split(":", 1)[0]


def _resolve_identities(nodes: list[_Node]) -> list[_Node]:
    """Drop ``Identity`` nodes, pointing each consumer at the end of the chain of identities."""
    by_name = {n.name: n for n in nodes}

    def end(name: str) -> str:
        seen = set()
        while True:
            node = by_name.get(_source(name))
            if node is None or node.op not in ("Identity", "IdentityN") or not node.inputs:
                return name
            if node.name in seen:
                raise TextGraphError(f"a cycle of Identity nodes at {node.name!r}")
            seen.add(node.name)
            name = node.inputs[0]

    kept = [n for n in nodes if n.op not in ("Identity", "IdentityN")]
    for n in kept:
        n.inputs = [end(i) for i in n.inputs if not i.startswith("^")]
    return kept


def _float_tensor(values: Iterable[float]) -> str:
    vals = list(values)
    body = " ".join(f"float_val: {v!r}" for v in vals)
    return f"tensor {{ dtype: DT_FLOAT tensor_shape {{ dim {{ size: {len(vals)} }} }} {body} }}"


def _int_tensor(values: Iterable[int]) -> str:
    vals = list(values)
    body = " ".join(f"int_val: {int(v)}" for v in vals)
    return f"tensor {{ dtype: DT_INT32 tensor_shape {{ dim {{ size: {len(vals)} }} }} {body} }}"


def _const(name: str, values: list[int]) -> _Node:
    return _Node(name, "Const", attrs=[("value", _int_tensor(values))])


def _anchors_per_layer(by_name: dict[str, _Node], layer: int, num_classes: int) -> int | None:
    """Anchors per location of ``layer`` as the class predictor's bias shape says, if stated."""
    biases = by_name.get(f"BoxPredictor_{layer}/ClassPredictor/biases")
    if biases is None or not biases.shape:
        return None
    return biases.shape[0] // (num_classes + 1)


def rewrite_ssd_text_graph(text: str, anchors: SSDAnchors | None = None) -> str:
    """Turn ``cv2.dnn.writeTextGraph``'s dump of a TF OD API SSD into a graph OpenCV can run.

    Args:
        text: the text graph of the frozen ``.pb`` (its structure only).
        anchors: the model's anchor settings (default: :class:`SSDAnchors`, the person SSDLite).

    Returns:
        The rewritten graph in protobuf text format: input ``image_tensor`` (NCHW float, RGB,
        0-255, ``anchors.image_size``), output ``detection_out`` ``[1, 1, N, 7]`` rows
        ``(image_id, class_id, score, x1, y1, x2, y2)`` with coordinates in [0, 1].

    Raises:
        TextGraphError: the graph does not have the expected inputs, heads or anchor counts.
    """
    a = anchors or SSDAnchors()
    nodes = _resolve_identities(parse_text_graph(text))
    by_name = {n.name: n for n in nodes}
    placeholders = [n for n in nodes if n.op == "Placeholder"]
    if len(placeholders) != 1:
        raise TextGraphError(f"expected one input Placeholder, found {len(placeholders)}")
    image = placeholders[0].name
    for layer in range(a.num_layers):
        for head in ("ClassPredictor", "BoxEncodingPredictor"):
            if f"BoxPredictor_{layer}/{head}/BiasAdd" not in by_name:
                raise TextGraphError(f"no BoxPredictor_{layer}/{head}/BiasAdd: not the expected SSD layout")
        expected = len(a.layer_boxes(layer)[0])
        found = _anchors_per_layer(by_name, layer, a.num_classes)
        if found is not None and found != expected:
            raise TextGraphError(f"layer {layer} predicts {found} anchors per location; the anchor "
                                 f"settings give {expected}")

    def dropped(n: _Node) -> bool:
        return n.op == "Const" or n.op not in _KEEP_OPS or n.name.startswith(_DROP_PREFIXES)

    removed = {n.name for n in nodes if dropped(n) and n.op != "Const"}
    kept = [n for n in nodes if not dropped(n)]
    for n in kept:
        n.attrs = [(k, v) for k, v in n.attrs if k not in _UNUSED_ATTRS]

    new: list[_Node] = [_const("concat/axis_flatten", [-1]), _const("PriorBox/concat/axis", [-2]),
                        _const("reshape_prior_boxes_to_4d", [1, 2, -1, 1])]
    for head in ("ClassPredictor", "BoxEncodingPredictor"):
        flat = []
        for layer in range(a.num_layers):
            src = f"BoxPredictor_{layer}/{head}/BiasAdd"
            new.append(_Node(f"{src}/Flatten", "Flatten", [src]))
            flat.append(f"{src}/Flatten")
        new.append(_Node(f"{head}/concat", "ConcatV2", [*flat, "concat/axis_flatten"]))
    priors = []
    for layer in range(a.num_layers):
        widths, heights = a.layer_boxes(layer)
        name = f"PriorBox_{layer}"
        new.append(_Node(name, "PriorBox", [f"BoxPredictor_{layer}/BoxEncodingPredictor/BiasAdd", image], [
            ("clip", "b: false"), ("flip", "b: false"), ("height", _float_tensor(heights)),
            ("variance", _float_tensor(a.variances)), ("width", _float_tensor(widths)),
        ]))
        new.append(_Node(f"{name}/4d", "Reshape", [name, "reshape_prior_boxes_to_4d"]))
        priors.append(f"{name}/4d")
    new.append(_Node("PriorBox/concat", "ConcatV2", [*priors, "PriorBox/concat/axis"]))
    new.append(_Node("ClassPredictor/concat/sigmoid", "Sigmoid", ["ClassPredictor/concat"]))
    new.append(_Node(OUTPUT_NODE, "DetectionOutput",
                     ["BoxEncodingPredictor/concat", "ClassPredictor/concat/sigmoid", "PriorBox/concat"], [
        ("background_label_id", "i: 0"), ("code_type", 's: "CENTER_SIZE"'),
        ("confidence_threshold", f"f: {a.confidence_threshold!r}"), ("keep_top_k", f"i: {a.keep_top_k}"),
        ("loc_pred_transposed", "b: true"), ("nms_threshold", f"f: {a.nms_threshold!r}"),
        ("num_classes", f"i: {a.num_classes + 1}"), ("share_location", "b: true"),
        ("top_k", f"i: {a.keep_top_k}"),
    ]))
    graph = _prune_and_sort(kept + new, OUTPUT_NODE)
    # Inputs computed by removed nodes: only the network's entry (the pixel scaling that read
    # the TF resize loop's output) may have one among the nodes the output needs; it reads the
    # image directly now.
    entries = [n for n in graph if any(_source(i) in removed for i in n.inputs)]
    if len(entries) != 1:
        raise TextGraphError("cannot find the single node where the network reads the image; "
                             f"candidates: {', '.join(n.name for n in entries[:5]) or 'none'}")
    entries[0].inputs = [image if _source(i) in removed else i for i in entries[0].inputs]
    return _format(_prune_and_sort(graph, OUTPUT_NODE))


def _prune_and_sort(nodes: list[_Node], output: str) -> list[_Node]:
    """The nodes ``output`` depends on, in execution order (inputs before consumers).

    Inputs naming nodes absent here (weights, constants of the binary graph) are not followed.
    """
    by_name = {n.name: n for n in nodes}
    order: list[_Node] = []
    state: dict[str, int] = {}  # 1: visiting, 2: done
    stack: list[tuple[str, int]] = [(output, 0)]
    while stack:
        name, i = stack.pop()
        node = by_name[name]
        if i == 0:
            if state.get(name) == 2:
                continue
            state[name] = 1
        deps = [d for d in (_source(x) for x in node.inputs) if d in by_name]
        if i < len(deps):
            stack.append((name, i + 1))
            dep = deps[i]
            if state.get(dep) == 1:
                raise TextGraphError(f"the rewritten graph has a cycle through {dep!r}")
            if state.get(dep) != 2:
                stack.append((dep, 0))
        else:
            state[name] = 2
            order.append(node)
    return order


def _format(nodes: list[_Node]) -> str:
    out = []
    for n in nodes:
        out.append(f'node {{\n  name: "{n.name}"\n  op: "{n.op}"\n')
        out.extend(f'  input: "{i}"\n' for i in n.inputs)
        for key, value in n.attrs:
            out.append(f'  attr {{\n    key: "{key}"\n    value {{\n{_indent(value)}    }}\n  }}\n')
        out.append("}\n")
    return "".join(out)


def _indent(value: str) -> str:
    """A value block: kept blocks are already indented text; generated ones are one line."""
    if value.endswith("\n"):
        return value
    return f"      {value}\n"


def write_ssd_text_graph(
    pb_path: str | Path, out_path: str | Path, anchors: SSDAnchors | None = None
) -> Path:
    """Write the OpenCV text graph of the SSD frozen graph ``pb_path`` to ``out_path``.

    The file is written next to ``out_path`` first and renamed into place, so a reader never
    sees half of it.

    Raises:
        TextGraphError: the graph is not the expected SSD.
        cv2.error, OSError: unreadable ``.pb``, unwritable destination.
    """
    out = Path(out_path)
    raw = out.with_name(out.name + ".raw.tmp")
    tmp = out.with_name(out.name + ".tmp")
    try:
        cv2.dnn.writeTextGraph(str(pb_path), str(raw))
        text = raw.read_text(encoding="utf-8")
        tmp.write_text(rewrite_ssd_text_graph(text, anchors), encoding="utf-8")
        tmp.replace(out)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out
