#!/usr/bin/env python3
"""ONNX Runtime's counterpart of `iskra bench --json`: the same measurements, the same JSON keys.

usage: .venv/bin/python bench/ort_bench.py MODEL [--threads N] [--runs R] [--warmup W]
                                           [--input NAME=FILE]...

load_ms is the session creation, file read included, with every graph optimization on
(ORT_ENABLE_ALL); intra_op_num_threads=N, inter_op_num_threads=1, CPU provider. The first
run is timed on its own, then W warmup runs, then R timed runs. peak_rss_mb is the
process's peak (getrusage), which includes Python, numpy and onnxruntime themselves:
base_rss_mb is that peak just before the session was created. Keys that only mean
something for Iskra (arena_mb, nodes, fast_nodes, dynamic_nodes) are null.

Inputs not given get seeded uniform random values in [-1, 1] (integers: 0..9), with
symbolic dims set to 1, like `iskra bench` (not the same values).
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from bench_common import parse_args, peak_rss_mib, result_record  # noqa: E402

ORT_DTYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}


def random_input(info, seed: int):
    dtype = ORT_DTYPES.get(info.type)
    if dtype is None:
        sys.exit(f"ort_bench: error: input '{info.name}' has type {info.type}; give it with --input")
    shape = [d if isinstance(d, int) and d >= 0 else 1 for d in info.shape]
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.floating):
        return rng.uniform(-1, 1, shape).astype(dtype)
    return rng.integers(0, 10 if dtype != np.bool_ else 2, shape).astype(dtype)


def time_runs(session, feed: dict, count: int) -> list:
    ms = []
    for _ in range(count):
        start = time.perf_counter()
        session.run(None, feed)
        ms.append((time.perf_counter() - start) * 1e3)
    return ms


def main(argv=None) -> int:
    args, given = parse_args(argv, __doc__, "ort_bench")

    import onnxruntime as ort  # imported before timing: the import is not part of loading

    base_rss = peak_rss_mib()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    start = time.perf_counter()
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - start) * 1e3

    infos = session.get_inputs()
    unknown = set(given) - {i.name for i in infos}
    if unknown:
        sys.exit(f"ort_bench: error: the model has no input named {sorted(unknown)}")
    feed = {i.name: given[i.name] if i.name in given else random_input(i, k) for k, i in enumerate(infos)}

    first_run_ms = time_runs(session, feed, 1)[0]
    time_runs(session, feed, args.warmup)
    ms = time_runs(session, feed, args.runs)
    result = result_record(args, "onnxruntime " + ort.__version__, feed, load_ms, first_run_ms, ms, base_rss)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
