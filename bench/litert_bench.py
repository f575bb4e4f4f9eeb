#!/usr/bin/env python3
"""LiteRT's counterpart of `iskra bench --json` for .tflite models: the same measurements, the same JSON keys.

usage: .venv/bin/python bench/litert_bench.py MODEL [--threads N] [--runs R] [--warmup W]
                                              [--input NAME=FILE]...

LiteRT (ai_edge_litert, the successor of TensorFlow Lite) runs as it ships: the Python
Interpreter with its default CPU path, the XNNPACK delegate, num_threads=N. load_ms is the
Interpreter construction (file mapped and parsed) plus allocate_tensors(), which is where the
default XNNPACK delegate is applied (partitioning, weight conversion and packing) and the
tensors are planned; inputs whose given shape differs from the model's are resized in between.
The first run is timed on its own, then W warmup runs, then R timed runs; a run is set_tensor()
of every input followed by invoke() (the outputs stay in the interpreter, unread, as Iskra
leaves them in place). peak_rss_mb is the process's peak (getrusage), which includes Python,
numpy and LiteRT themselves: base_rss_mb is that peak just before the Interpreter was created.
Keys that only mean something for Iskra (arena_mb, nodes, fast_nodes, dynamic_nodes) are null.
One key more than ort_bench.py: `delegate`, how XNNPACK took the graph (delegate nodes, ops of
the model, whether one delegate node runs the whole graph, threads the process gained).

Inputs not given get seeded uniform random values in [-1, 1] (integers: 0..9), with
dynamic dims set to 1, like `iskra bench` (not the same values).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from bench_common import parse_args, peak_rss_mib, result_record  # noqa: E402


def thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def random_input(detail: dict, seed: int):
    dtype = np.dtype(detail["dtype"])
    signature = detail.get("shape_signature")
    dims = signature if signature is not None and len(signature) else detail["shape"]
    shape = [int(d) if d >= 0 else 1 for d in dims]
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.floating):
        return rng.uniform(-1, 1, shape).astype(dtype)
    if dtype == np.bool_ or np.issubdtype(dtype, np.integer):
        return rng.integers(0, 10 if dtype != np.bool_ else 2, shape).astype(dtype)
    sys.exit(f"litert_bench: error: input '{detail['name']}' has type {dtype}; give it with --input")


def delegate_summary(interpreter, threads_before):
    """How the default delegate took the graph (subgraph 0), from the interpreter's node list:
    after delegation it holds the model's ops followed by one DELEGATE node per partition."""
    try:
        ops = interpreter._get_ops_details()  # private, but the only view of the nodes
    except Exception:  # noqa: BLE001 - informative only
        return None
    delegates = [o for o in ops if o["op_name"] == "DELEGATE"]
    model_ops = [o for o in ops if o["op_name"] != "DELEGATE"]
    d_in = {int(t) for o in delegates for t in o["inputs"]}
    d_out = {int(t) for o in delegates for t in o["outputs"]}
    produced = {int(t) for o in model_ops for t in o["outputs"]}
    consumed = {int(t) for o in model_ops for t in o["inputs"]}
    graph_outputs = {d["index"] for d in interpreter.get_output_details()}
    # One partition that yields every graph output, is fed by no op left outside it (a model op
    # producing one of its inputs) and feeds none: nothing runs outside XNNPACK.
    whole = len(delegates) == 1 and graph_outputs <= d_out and not (d_in & produced) and not (d_out & consumed)
    now = thread_count()
    return {"name": "XNNPACK" if delegates else None, "nodes": len(delegates), "model_ops": len(model_ops),
            "whole_graph": whole,
            "extra_threads": now - threads_before if now is not None and threads_before is not None else None}


def time_runs(interpreter, feed: list, count: int) -> list:
    ms = []
    for _ in range(count):
        start = time.perf_counter()
        for index, value in feed:
            interpreter.set_tensor(index, value)
        interpreter.invoke()
        ms.append((time.perf_counter() - start) * 1e3)
    return ms


def main(argv=None) -> int:
    args, given = parse_args(argv, __doc__, "litert_bench")

    import ai_edge_litert  # imported before timing: the import is not part of loading
    from ai_edge_litert.interpreter import Interpreter

    base_rss, threads_before = peak_rss_mib(), thread_count()
    start = time.perf_counter()
    interpreter = Interpreter(model_path=args.model, num_threads=args.threads)
    details = interpreter.get_input_details()
    unknown = set(given) - {d["name"] for d in details}
    if unknown:
        sys.exit(f"litert_bench: error: the model has no input named {sorted(unknown)}")
    for d in details:
        if d["name"] in given and list(given[d["name"]].shape) != list(d["shape"]):
            interpreter.resize_tensor_input(d["index"], list(given[d["name"]].shape))
    interpreter.allocate_tensors()  # applies the default XNNPACK delegate
    load_ms = (time.perf_counter() - start) * 1e3

    values = {}
    for k, d in enumerate(details):
        value = given[d["name"]] if d["name"] in given else random_input(d, k)
        if value.dtype != d["dtype"]:
            sys.exit(f"litert_bench: error: input '{d['name']}' is {np.dtype(d['dtype'])}, "
                     f"the file has {value.dtype}")
        values[d["name"]] = np.ascontiguousarray(value)
    feed = [(d["index"], values[d["name"]]) for d in details]

    first_run_ms = time_runs(interpreter, feed, 1)[0]
    time_runs(interpreter, feed, args.warmup)
    ms = time_runs(interpreter, feed, args.runs)
    result = result_record(args, "litert " + ai_edge_litert.__version__, values, load_ms, first_run_ms, ms, base_rss)
    result["delegate"] = delegate_summary(interpreter, threads_before)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
