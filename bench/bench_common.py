"""What bench/ort_bench.py and bench/litert_bench.py share: the command line, memory, latency
statistics, --input parsing and the JSON record (the keys of `iskra bench --json`)."""
from __future__ import annotations

import argparse
import resource
import sys

import numpy as np


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def latency_stats(ms: list) -> dict:
    a = np.asarray(ms, dtype=np.float64)
    return {"min": float(a.min()), "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "max": float(a.max())}


def parse_inputs(specs: list, tool: str) -> dict:
    """NAME=FILE arguments as {name: array}; exits with an error naming `tool` on a bad one."""
    given = {}
    for spec in specs:
        name, eq, path = spec.partition("=")
        if not name or not eq or not path:
            sys.exit(f"{tool}: error: --input '{spec}' is not NAME=FILE")
        if name in given:
            sys.exit(f"{tool}: error: --input '{name}' is given twice")
        given[name] = np.load(path)
    return given


def parse_args(argv, doc: str, tool: str):
    """The scripts' common command line: (arguments, {input name: array} from --input)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.runs < 1 or args.warmup < 0:
        ap.error("--threads and --runs must be >= 1, --warmup >= 0")
    return args, parse_inputs(args.input, tool)


def result_record(args, runtime: str, inputs: dict, load_ms: float, first_run_ms: float, ms: list,
                  base_rss: float) -> dict:
    """The JSON object both scripts print; the keys only Iskra fills (arena, nodes) are None."""
    return {
        "model": args.model,
        "runtime": runtime,
        "inputs": [{"name": k, "dtype": str(v.dtype), "shape": list(v.shape)} for k, v in inputs.items()],
        "threads": args.threads,
        "runs": args.runs,
        "warmup": args.warmup,
        "load_ms": load_ms,
        "first_run_ms": first_run_ms,
        "latency_ms": latency_stats(ms),
        "peak_rss_mb": peak_rss_mib(),
        "base_rss_mb": base_rss,
        "arena_mb": None,
        "nodes": None,
        "fast_nodes": None,
        "dynamic_nodes": None,
    }
