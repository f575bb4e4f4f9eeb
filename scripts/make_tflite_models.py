#!/usr/bin/env python3
""".tflite models made with TensorFlow's TFLiteConverter:
- small op models, for the TFLite ops that the MediaPipe models do not use (strided and plain
  slices, gathers, splits, packs, batch matmul, argmax, casts, squeeze/expand_dims): each a
  tf.function over its inputs, converted with the default (float) settings (TFLITE_OP_MODELS);
- quantized models (TFLITE_QUANTIZED_MODELS): a small CNN and MobileNetV2 224 (Keras, seeded
  random weights), each converted three ways: full-integer int8 with float input and output
  (QUANTIZE ... DEQUANTIZE), full-integer with int8 input and output, and dynamic-range (int8
  weights, float activations). The int8 ones are calibrated on a seeded random representative
  dataset.
`scripts/models.py` lists their inputs and tests/models/check_parity.py compares Iskra with LiteRT
on them.

usage: .venv/bin/python scripts/make_tflite_models.py DIR           write DIR/<name>.tflite
       .venv/bin/python scripts/make_tflite_models.py --check DIR   exit 0 if all are there
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models as model_list  # noqa: E402


def op_functions(tf):
    """name -> function of the model's inputs (in TFLITE_OP_MODELS order) returning {output: tensor}."""
    return {
        # STRIDED_SLICE (begin/end masks, negative begin, stride 2, reversal, shrink axis), SLICE,
        # SQUEEZE, EXPAND_DIMS.
        "tflite_slicing": lambda x: {
            "strided": x[:, 1:7:2, -6:, :] * 2.0,
            "reversed": x[:, ::-1, :, 1:5] + 1.0,
            "shrunk": x[:, 3, :, 2] - 1.0,
            "last_row": x[:, -1, :, :] * 3.0,
            "slice": tf.slice(x, [0, 2, 1, 0], [1, 4, -1, 3]) * 0.5,
            "squeezed": tf.squeeze(tf.reduce_max(x, axis=[1], keepdims=True), axis=[0, 1]),
            "expanded": tf.expand_dims(tf.reduce_sum(x, axis=-1), axis=1),
        },
        # SPLIT, SPLIT_V, PACK, UNPACK.
        "tflite_split_pack": lambda x: dict(
            zip(["third_0", "third_1", "third_2"], [t * float(i + 1) for i, t in enumerate(tf.split(x, 3, axis=-1))]),
            **dict(zip(["part_0", "part_1", "part_2"], [t + float(i) for i, t in enumerate(tf.split(x, [2, 3, 1], axis=1))])),
            stacked=tf.stack([x[:, 0], x[:, 1] * 2.0, x[:, 2] + 1.0], axis=1),
            unstacked_sum=sum(tf.unstack(x, axis=2)),
        ),
        # GATHER with constant indices and with indices given at run time.
        "tflite_gather": lambda x, indices: {
            "constant_indices": tf.gather(x, [3, 0, 2, 2], axis=1) * 2.0,
            "input_indices": tf.gather(x, indices, axis=2) + 1.0,
        },
        # BATCH_MATMUL: batched, with a transposed right side, and broadcast over the batch.
        "tflite_batch_matmul": lambda a, b, c: {
            "product": tf.matmul(a, b),
            "transposed": tf.matmul(a, tf.transpose(b, [0, 1, 3, 2]) * 1.0, transpose_b=True),
            "broadcast": tf.matmul(a, c),
        },
        # ARG_MAX (int32 and int64 outputs), CAST.
        "tflite_argmax_cast": lambda x: {
            "argmax_last": tf.argmax(x, axis=-1, output_type=tf.int32),
            "argmax_64": tf.argmax(x, axis=1, output_type=tf.int64),
            "cast": tf.cast(tf.argmax(x, axis=-1, output_type=tf.int32), tf.float32) * x[..., 0],
        },
    }


def small_cnn(tf):
    """Conv, depthwise conv, residual add, max and average pools, mean, dense, softmax."""
    tf.keras.utils.set_random_seed(7)
    layers = tf.keras.layers
    x = layers.Input((32, 32, 3), batch_size=1, name="image")
    y = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    y = layers.ReLU(6.0)(layers.DepthwiseConv2D(3, padding="same")(y))
    y = layers.Add()([y, layers.Conv2D(16, 1)(y)])
    y = layers.MaxPooling2D(2)(y)
    y = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(y)
    y = layers.AveragePooling2D(2)(y)
    y = layers.Conv2D(32, 3, padding="valid")(y)
    logits = layers.Dense(10, name="logits")(layers.GlobalAveragePooling2D()(y))
    return tf.keras.Model(x, [logits, layers.Softmax(name="probabilities")(logits)])


def mobilenet_v2(tf):
    """MobileNetV2 whose batch norms hold the statistics of a random batch: with Keras's
    initial ones (mean 0, variance 1) the random-weight activations shrink layer by layer to
    ~1e-6 logits, which quantize to almost nothing."""
    np = model_list._np()
    tf.keras.utils.set_random_seed(7)
    image = tf.keras.layers.Input((224, 224, 3), batch_size=1, name="image")
    model = tf.keras.applications.MobileNetV2(input_tensor=image, weights=None, classifier_activation=None)
    batch = np.random.default_rng(1).uniform(-1, 1, (8, 224, 224, 3)).astype(np.float32)
    norms = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # the moving statistics become this batch's
    model(batch, training=True)
    return model


def convert_quantized(tf, name):
    np = model_list._np()
    arch, mode = model_list.TFLITE_QUANTIZED_MODELS[name]
    model = {"small_cnn": small_cnn, "mobilenet_v2": mobilenet_v2}[arch](tf)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode in ("int8", "int8io"):
        shape = tuple(model.inputs[0].shape)
        rng = np.random.default_rng(0)
        converter.representative_dataset = lambda: ([rng.uniform(-1, 1, shape).astype(np.float32)] for _ in range(8))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if mode == "int8io":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


def convert(tf, name, fn):
    spec = model_list.TFLITE_OP_MODELS[name]
    dtypes = {"float32": tf.float32, "int32": tf.int32}
    signature = [tf.TensorSpec(inp.shape, dtypes[inp.dtype], name=inp.name) for inp in spec]
    concrete = tf.function(fn, input_signature=signature).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    return converter.convert()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("dir", type=Path)
    args = ap.parse_args()
    names = list(model_list.TFLITE_OP_MODELS) + list(model_list.TFLITE_QUANTIZED_MODELS)
    missing = [n for n in names if not (args.dir / f"{n}.tflite").is_file()]
    if args.check:
        if missing:
            print(f"make_tflite_models: {len(missing)} of {len(names)} missing")
            return 1
        print(f"make_tflite_models: all {len(names)} in {args.dir}")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    args.dir.mkdir(parents=True, exist_ok=True)
    made = [(name, lambda name=name, fn=fn: convert(tf, name, fn)) for name, fn in op_functions(tf).items()]
    made += [(name, lambda name=name: convert_quantized(tf, name)) for name in model_list.TFLITE_QUANTIZED_MODELS]
    for name, make in made:
        data = make()
        (args.dir / f"{name}.tflite").write_bytes(data)
        print(f"{name}.tflite: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
