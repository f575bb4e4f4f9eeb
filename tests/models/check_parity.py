#!/usr/bin/env python3
"""Runs the real models with `iskra run` and with the format's own runtime (ONNX
Runtime for .onnx, LiteRT for .tflite) on the same inputs and compares every output:
max|diff| <= 1e-4 * max|ref| + 1e-5 (per output, per call; a model may set a looser
relative tolerance for a named output, see scripts/models.py). Outputs of quantized
.tflite models may differ by one quantization step, or by as much as LiteRT's XNNPACK
and builtin kernels differ from each other on that call (LitertRunner.quantized_tolerance).

The models, their inputs and where their files are come from scripts/models.py
(scripts/setup installs the files). Recurrent models (Silero VAD) run over several
consecutive chunks; each runtime gets its own state outputs back as the next
chunk's state inputs, as an application would do, and every chunk is compared.

The inputs, Iskra's outputs and ONNX Runtime's outputs of each call are kept under
the work folder (default .cache/parity/<model>/step<K>/{inputs,iskra,ref}/), so a
failure can be rerun by hand with the command printed next to it.

usage:
  .venv/bin/python tests/models/check_parity.py [--iskra build/iskra] [--only PATTERN]...
  .venv/bin/python tests/models/check_parity.py --list
  .venv/bin/python tests/models/check_parity.py --self-test   # checks this harness:
      the candidate is ONNX Runtime with basic graph optimizations, driven through
      the same command line and files as iskra

The reference is ONNX Runtime with graph optimizations off (--reference-opt
disable), i.e. its plain kernel per node. Measured against a float64 evaluation of
the same graph (PaddleOCR det at 640x640, this file's inputs, onnxruntime 1.31.1),
that path is off by 0.54x the tolerance, while ONNX Runtime's default level (all:
NCHWc layout rewriting) is off by 1.27x: an exact runtime would fail against the
default level. On the torchvision models every level is within 0.04x.

Exit status: 0 if every compared output passes, 1 if any fails, 2 on bad usage.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import models as model_list  # noqa: E402

RTOL = 1e-4
ATOL = 1e-5


def tolerance(ref, rtol=RTOL) -> float:
    import numpy as np

    finite = ref[np.isfinite(ref)] if ref.size else ref
    peak = float(np.max(np.abs(finite))) if finite.size else 0.0
    return rtol * peak + ATOL


def compare(got, ref, rtol=RTOL, step=None):
    """(max|diff|, tolerance, problem or None) for one output. `step`: the output's
    quantization step, for outputs of quantized models, which may differ by one step."""
    import numpy as np

    tol = tolerance(ref.astype(np.float64), rtol) if ref.dtype.kind in "fc" else 0.0
    if step is not None:
        tol = max(tol, step * (1 + 1e-6))
    if got.shape != ref.shape:
        return float("nan"), tol, f"shape {list(got.shape)} != reference {list(ref.shape)}"
    if got.dtype != ref.dtype:
        return float("nan"), tol, f"dtype {got.dtype} != reference {ref.dtype}"
    if ref.dtype.kind not in "fciub":
        equal = np.array_equal(got, ref)
        return 0.0 if equal else float("inf"), 0.0, None if equal else "values differ"
    if got.size == 0:
        return 0.0, tol, None
    g = got.astype(np.float64)
    r = ref.astype(np.float64)
    nan_g, nan_r = np.isnan(g), np.isnan(r)
    if not np.array_equal(nan_g, nan_r):
        return float("nan"), tol, f"NaN in {int(nan_g.sum())} values, reference {int(nan_r.sum())}"
    inf_mismatch = (np.isinf(g) | np.isinf(r)) & (g != r)
    if inf_mismatch.any():
        return float("inf"), tol, f"{int(inf_mismatch.sum())} infinite values differ"
    ok = ~(nan_r | np.isinf(r))
    diff = float(np.max(np.abs(g[ok] - r[ok]))) if ok.any() else 0.0
    return diff, tol, None if diff <= tol else "over tolerance"


# --- runtimes -----------------------------------------------------------------------------------------


ORT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
              "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


class OrtRunner:
    def __init__(self, path, level="disable"):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, ORT_LEVELS[level])
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.sess.get_outputs()]

    def run(self, feed):
        return dict(zip(self.output_names, self.sess.run(None, feed)))


class LitertRunner:
    """LiteRT's interpreter (ai-edge-litert) on one thread, with its default
    delegate (XNNPACK), as an app runs a .tflite model."""

    def __init__(self, path):
        from ai_edge_litert.interpreter import Interpreter

        self.path = path
        self.interp = Interpreter(model_path=str(path), num_threads=1)
        self.interp.allocate_tensors()
        self.inputs = {d["name"]: d["index"] for d in self.interp.get_input_details()}
        self.outputs = [(d["name"], d["index"]) for d in self.interp.get_output_details()]
        # Quantized models: LiteRT's own two kernel sets (XNNPACK and its builtin kernels)
        # differ by several steps at the output, as rounding differences compound layer by
        # layer. Their difference on each call widens the tolerance (see compare_quantized).
        self.builtin, self.steps = self.quantization_steps()
        self.spread = {}

    def quantization_steps(self):
        """output name -> its quantization step: 1 for a quantized integer output (values
        compare as integers), the scale of the DEQUANTIZE input for a float output that
        DEQUANTIZE makes. Read from the plain interpreter: XNNPACK replaces the ops."""
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        details = self.interp.get_tensor_details()
        if not any(d["quantization_parameters"]["scales"].size > 0 for d in details):
            return None, {}  # a float model (fp16 weights carry no scales)
        plain = Interpreter(model_path=str(self.path),
                            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        plain.allocate_tensors()
        tensors = {d["index"]: d for d in plain.get_tensor_details()}
        made_by = {t: op for op in plain._get_ops_details() for t in op["outputs"]}  # noqa: SLF001
        quantized_weights = any(d["dtype"].__name__ == "int8" and d["quantization_parameters"]["scales"].size > 0
                                for d in tensors.values())
        steps = {}
        for name, index in self.outputs:
            scale = tensors[index]["quantization"][0]
            op = made_by.get(index)
            if scale > 0:
                steps[name] = 1.0
            elif op is not None and op["op_name"] == "DEQUANTIZE":
                steps[name] = tensors[op["inputs"][0]]["quantization"][0]
            elif quantized_weights:  # dynamic range: float outputs, activations quantized inside ops
                steps[name] = 0.0
        return plain if steps else None, steps

    def run(self, feed):
        for name, value in feed.items():
            self.interp.set_tensor(self.inputs[name], value)
        self.interp.invoke()
        out = {name: self.interp.get_tensor(index).copy() for name, index in self.outputs}
        if self.builtin is not None:
            import numpy as np

            for name, value in feed.items():
                self.builtin.set_tensor(self.inputs[name], value)
            self.builtin.invoke()
            for name, index in self.outputs:
                other = self.builtin.get_tensor(index).astype(np.float64)
                self.spread[name] = float(np.max(np.abs(other - out[name].astype(np.float64)))) if other.size else 0.0
        return out

    def quantized_tolerance(self, name, ref):
        """None for float models; else max(one quantization step, LiteRT's XNNPACK-vs-builtin
        difference on this call, and for dynamic-range outputs 2^-7 * max|ref|: one step of
        the int8 activations LiteRT quantizes inside each op)."""
        if name not in self.steps:
            return None
        import numpy as np

        step = self.steps[name]
        if step == 0.0:
            step = float(np.max(np.abs(ref))) / 128 if ref.size else 0.0
        return max(step, self.spread.get(name, 0.0))


def quantized_tolerance(runner, name, ref):
    return runner.quantized_tolerance(name, ref) if isinstance(runner, LitertRunner) else None


def reference_runner(path, ort_level):
    return LitertRunner(path) if Path(path).suffix == ".tflite" else OrtRunner(path, ort_level)


def run_iskra(cmd_prefix, model_path, input_files, out_dir, timeout):
    """Runs `<cmd_prefix> run MODEL --input NAME=FILE... --output-dir OUT` and returns
    (command, seconds, error text or None)."""
    cmd = list(cmd_prefix) + ["run", str(model_path)]
    for name, f in input_files.items():
        cmd += ["--input", f"{name}={f}"]
    cmd += ["--output-dir", str(out_dir)]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return cmd, time.monotonic() - t0, f"timed out after {timeout} s"
    except OSError as e:
        return cmd, time.monotonic() - t0, f"cannot run: {e}"
    secs = time.monotonic() - t0
    if p.returncode != 0:
        lines = [l for l in (p.stderr or p.stdout).strip().splitlines() if l.strip()]
        return cmd, secs, f"exit {p.returncode}: {lines[-1] if lines else '(no message)'}"
    return cmd, secs, None


def fake_iskra_main(argv):
    """`check_parity.py --as-fake-iskra run MODEL --input N=F... --output-dir D`: the
    stand-in for iskra in --self-test: ONNX Runtime with its basic graph optimizations
    (constant folding, Conv+BatchNorm fusion, ...), a different code path from the reference."""
    import numpy as np

    ap = argparse.ArgumentParser(prog="fake-iskra")
    ap.add_argument("cmd", choices=["run"])
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--output-dir", required=True)
    args = ap.parse_args(argv)
    feed = {}
    for spec in args.input:
        name, _, f = spec.partition("=")
        feed[name] = np.load(f)
    runner = OrtRunner(args.model, level="basic")
    os.makedirs(args.output_dir, exist_ok=True)
    for name, value in runner.run(feed).items():
        np.save(Path(args.output_dir) / f"{model_list.sanitize(name)}.npy", value)
        print(f"{name} {list(value.shape)} {value.dtype}")
    return 0


# --- the check ----------------------------------------------------------------------------------------


class Row:
    def __init__(self, model, step, output, diff, tol, problem, cmd=None):
        self.model, self.step, self.output = model, step, output
        self.diff, self.tol, self.problem, self.cmd = diff, tol, problem, cmd

    @property
    def ok(self):
        return self.problem is None


def check_model(m, args, cmd_prefix, emit):
    import numpy as np

    steps_n = (args.steps or m.default_steps) if m.feedback else 1
    if not m.present:
        emit(Row(m.name, None, "-", float("nan"), float("nan"), f"model file missing: {m.path} (run scripts/setup)"))
        return
    work = Path(args.work_dir) / m.name
    shutil.rmtree(work, ignore_errors=True)
    ref_runner = reference_runner(m.path, args.reference_opt)
    steps = m.make_steps(steps_n)
    rtol = lambda output: m.rtol.get(output, RTOL)  # noqa: E731
    state_iskra, state_ref = {}, {}
    for k, base_feed in enumerate(steps):
        step_dir = work / f"step{k}"
        in_dir, out_dir, ref_dir = step_dir / "inputs", step_dir / "iskra", step_dir / "ref"
        for d in (in_dir, out_dir, ref_dir):
            d.mkdir(parents=True)
        feed_iskra = {**base_feed, **state_iskra}
        feed_ref = {**base_feed, **state_ref}

        ref = ref_runner.run(feed_ref)
        for name, value in ref.items():
            np.save(ref_dir / f"{model_list.sanitize(name)}.npy", value)

        files = {}
        for name, value in feed_iskra.items():
            f = in_dir / f"{model_list.sanitize(name)}.npy"
            np.save(f, value)
            files[name] = f
        cmd, secs, err = run_iskra(cmd_prefix, m.path, files, out_dir, args.timeout)
        step = k if steps_n > 1 else None
        if err:
            emit(Row(m.name, step, "-", float("nan"), float("nan"), err, cmd))
            return  # later steps depend on this one's state
        got = {}
        for name, value in ref.items():
            f = out_dir / f"{model_list.sanitize(name)}.npy"
            if not f.is_file():
                emit(Row(m.name, step, name, float("nan"), tolerance(value, rtol(name)), f"no output file {f.name}", cmd))
                continue
            try:
                got[name] = np.load(f, allow_pickle=False)
            except Exception as e:  # noqa: BLE001 - report any unreadable file as a failure
                emit(Row(m.name, step, name, float("nan"), tolerance(value, rtol(name)), f"unreadable {f.name}: {e}", cmd))
                continue
            diff, tol, problem = compare(got[name], value, rtol(name), quantized_tolerance(ref_runner, name, value))
            emit(Row(m.name, step, name, diff, tol, problem, cmd if problem else None), secs)
        # Feed each runtime its own state for the next chunk.
        for out_name, in_name in m.feedback.items():
            if out_name in got:
                state_iskra[in_name] = got[out_name]
            state_ref[in_name] = ref[out_name]
        missing_state = [o for o in m.feedback if o not in got]
        if missing_state and k + 1 < len(steps):
            return


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--as-fake-iskra"]:
        return fake_iskra_main(argv[1:])

    ap = argparse.ArgumentParser(
        description="Compare `iskra run` with ONNX Runtime on the real models "
                    f"(per output: max|diff| <= {RTOL:g} * max|ref| + {ATOL:g}).")
    ap.add_argument("--iskra", default=str(ROOT / "build" / "iskra"), help="the iskra binary (default build/iskra)")
    ap.add_argument("--only", action="append", default=[], metavar="PATTERN",
                    help="models whose name matches this glob, or with this tag "
                         "(torchvision, paddleocr, silero, recurrent); repeatable")
    ap.add_argument("--list", action="store_true", help="list the models and exit")
    ap.add_argument("--self-test", action="store_true",
                    help="check the harness: ONNX Runtime without graph optimizations stands in for iskra")
    ap.add_argument("--reference-opt", choices=sorted(ORT_LEVELS), default="disable",
                    help="ONNX Runtime graph optimization level of the reference (default: disable; see the "
                         "module doc for why)")
    ap.add_argument("--steps", type=int, default=0, help="consecutive chunks for recurrent models (default: per model, 8 for Silero VAD)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per iskra call (default 900)")
    ap.add_argument("--work-dir", default=str(ROOT / ".cache" / "parity"),
                    help="where inputs and outputs are kept (default .cache/parity)")
    args = ap.parse_args(argv)

    try:
        chosen = model_list.select(args.only)
    except KeyError as e:
        print(f"check_parity: {e.args[0]}", file=sys.stderr)
        return 2
    if args.list:
        for m in chosen:
            ins = ", ".join(f"{i.name} {i.dtype}{list(i.shape)}" for i in m.inputs)
            steps = f", {m.default_steps} chunks" if m.default_steps > 1 else ""
            print(f"{m.name:28} {'ok     ' if m.present else 'MISSING'} {ins}{steps}")
        return 0

    if args.self_test:
        chosen = [m for m in chosen if m.path.suffix == ".onnx"]  # the stand-in is ONNX Runtime
        cmd_prefix = [sys.executable, str(Path(__file__).resolve()), "--as-fake-iskra"]
        label = "fake iskra (ONNX Runtime with basic graph optimizations)"
    else:
        iskra = Path(args.iskra)
        if not (iskra.is_file() and os.access(iskra, os.X_OK)):
            print(f"check_parity: no iskra binary at {iskra} (build it, or pass --iskra PATH)", file=sys.stderr)
            return 2
        cmd_prefix = [str(iskra.resolve())]
        label = str(iskra)

    import onnxruntime
    from importlib.metadata import version

    print(f"candidate: {label}")
    print(f"reference: .onnx: onnxruntime {onnxruntime.__version__}, CPUExecutionProvider, "
          f"graph optimizations: {args.reference_opt}; .tflite: ai-edge-litert {version('ai-edge-litert')}, 1 thread")
    print(f"tolerance per output: max|diff| <= {RTOL:g} * max|ref| + {ATOL:g}")
    header = f"{'model':28} {'call':>4}  {'output':18} {'max|diff|':>10} {'tolerance':>10} {'iskra s':>8}  result"
    print(header)
    print("-" * len(header))
    rows = []

    def emit(row, secs=None):
        rows.append(row)
        step = "" if row.step is None else str(row.step)
        secs_s = "" if secs is None else f"{secs:.2f}"
        result = "PASS" if row.ok else f"FAIL  {row.problem}"
        print(f"{row.model:28} {step:>4}  {row.output[:18]:18} {row.diff:10.3g} {row.tol:10.3g} {secs_s:>8}  {result}",
              flush=True)
        if row.cmd:
            print(f"    rerun: {shlex.join(str(c) for c in row.cmd)}", flush=True)

    t0 = time.monotonic()
    for m in chosen:
        try:
            check_model(m, args, cmd_prefix, emit)
        except Exception as e:  # noqa: BLE001 - one broken model must not hide the others
            emit(Row(m.name, None, "-", float("nan"), float("nan"), f"harness error: {type(e).__name__}: {e}"))

    failed = [r for r in rows if not r.ok]
    failed_models = sorted({r.model for r in failed})
    print("-" * len(header))
    print(f"{len(rows) - len(failed)} of {len(rows)} outputs within tolerance, in {time.monotonic() - t0:.0f} s")
    if failed_models:
        print("failed models: " + " ".join(failed_models))
    print(f"models: {len(chosen) - len(failed_models)} passed, {len(failed_models)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
