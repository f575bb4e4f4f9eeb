#!/usr/bin/env python3
"""Semantic check of a .tflite model end to end: BlazeFace short range (npm
@mediapipe/face_detection) through `iskra run` on astronaut.png finds exactly one
face, with score > 0.9, its box around her face (which spans about x 180-270,
y 80-175 of the 512x512 photo) and the nose keypoint inside the box; on coffee.png
(a cup of coffee) it finds none.

Pre- and post-processing follow MediaPipe's face_detection_short_range graph: the
photo resized to 128x128, scaled to [-1, 1]; 896 SSD anchors (strides 8, 16, 16, 16,
two anchors per layer and cell, fixed size); boxes and 6 keypoints decoded with
scale 128; score = sigmoid(clip(logit, -100, 100)) >= 0.5; weighted non-maximum
suppression at IoU 0.3.

usage: .venv/bin/python tests/models/check_blazeface.py [--iskra build/iskra]
Exit status 0 on success, 1 on a failed check (or iskra failing), 77 if the model is
not installed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import models as model_list  # noqa: E402

INPUT_SIZE = 128
PHOTO_SIZE = 512
FACE_REGION = (180, 80, 270, 175)  # x0, y0, x1, y1 in the photo
NOSE = 2  # keypoint order: right eye, left eye, nose tip, mouth, right ear, left ear


def anchors() -> np.ndarray:
    """[896, 2] anchor centres (x, y) in [0, 1], in MediaPipe's SsdAnchorsCalculator order."""
    strides = [8, 16, 16, 16]
    out = []
    layer = 0
    while layer < len(strides):
        # Consecutive layers with the same stride share one feature map: per cell,
        # two anchors per layer (aspect ratio 1 and the interpolated scale).
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = 2 * (last - layer)
        size = (INPUT_SIZE + strides[layer] - 1) // strides[layer]
        for y in range(size):
            for x in range(size):
                out += [((x + 0.5) / size, (y + 0.5) / size)] * per_cell
        layer = last
    return np.array(out, np.float32)


def iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def decode(regressors: np.ndarray, logits: np.ndarray):
    """Detections as (score, box [x0, y0, x1, y1], keypoints [6, 2]) in [0, 1] coordinates."""
    a = anchors()
    raw = regressors.reshape(-1, 16) / INPUT_SIZE
    scores = 1 / (1 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100, 100)))
    cx, cy = raw[:, 0] + a[:, 0], raw[:, 1] + a[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = raw[:, 4:].reshape(-1, 6, 2) + a[:, None, :]
    # Weighted NMS: the best remaining detection absorbs those overlapping it,
    # its box and keypoints the score-weighted mean of the cluster's.
    order = [i for i in np.argsort(-scores) if scores[i] >= 0.5]
    detections = []
    while order:
        best = order[0]
        cluster = [i for i in order if iou(boxes[best], boxes[i]) > 0.3]
        order = [i for i in order if i not in cluster]
        weights = scores[cluster][:, None]
        box = (boxes[cluster] * weights).sum(0) / weights.sum()
        kps = (keypoints[cluster] * weights[:, :, None]).sum(0) / weights.sum()
        detections.append((float(scores[best]), box, kps))
    return detections


def detect(iskra, model_path, photo):
    with tempfile.TemporaryDirectory(prefix="iskra_blazeface_") as tmp:
        x = Path(tmp) / "input.npy"
        np.save(x, model_list.mediapipe_input(INPUT_SIZE, INPUT_SIZE, -1.0, 1.0, photo=photo))
        r = subprocess.run([iskra, "run", str(model_path), "--input", f"input={x}", "--output-dir", tmp],
                           capture_output=True, text=True, timeout=120)
        if r.returncode:
            raise SystemExit(f"check_blazeface: iskra failed on {photo}: {r.stderr.strip()}")
        return decode(np.load(Path(tmp) / "regressors.npy"), np.load(Path(tmp) / "classificators.npy"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iskra", default=str(ROOT / "build" / "iskra"))
    args = ap.parse_args()
    model = model_list.get("face_detection_short_range")
    if not model.present:
        print(f"check_blazeface: {model.path} not installed (run scripts/setup)")
        return 77
    failures = []
    detections = detect(args.iskra, model.path, "astronaut.png")
    if detect(args.iskra, model.path, "coffee.png"):
        failures.append("a face found on coffee.png")
    for score, box, kps in detections:
        px = [round(float(v) * PHOTO_SIZE) for v in box]
        nose = [round(float(v) * PHOTO_SIZE) for v in kps[NOSE]]
        print(f"face: score {score:.4f}, box x {px[0]}-{px[2]}, y {px[1]}-{px[3]}, nose at {nose}")
    if len(detections) != 1:
        failures.append(f"{len(detections)} faces found, expected 1")
    else:
        score, box, kps = detections[0]
        region = [v / PHOTO_SIZE for v in FACE_REGION]
        if score <= 0.9:
            failures.append(f"score {score:.3f} <= 0.9")
        if iou(box, region) < 0.5:
            failures.append(f"box overlaps her face (x 180-270, y 80-175) with IoU {iou(box, region):.2f} < 0.5")
        nx, ny = kps[NOSE]
        if not (box[0] <= nx <= box[2] and box[1] <= ny <= box[3]):
            failures.append("the nose keypoint is outside the box")
    for f in failures:
        print(f"FAIL: {f}")
    if not failures:
        print("PASS: one face, around her face, nose inside")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
