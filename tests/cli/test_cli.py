#!/usr/bin/env python3
"""Tests of the `iskra` command line: error handling, outputs, inspect.

usage: test_cli.py ISKRA_BINARY ONNX_BACKEND_DIR    (exit 77 = skipped: no test data)

Uses only the standard library, numpy and onnx (the project venv).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ISKRA = ""
DATA = ""
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def relu_dir():
    return os.path.join(DATA, "node", "test_relu")


def run(*args, cwd=None):
    return subprocess.run([ISKRA, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


class CliTestCase(unittest.TestCase):
    """A temporary folder and the checks every command's tests share."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="iskra_cli_test_")
        self.dir = self.tmp.name
        self.model = os.path.join(relu_dir(), "model.onnx")
        self.input_pb = os.path.join(relu_dir(), "test_data_set_0", "input_0.pb")
        self.output_pb = os.path.join(relu_dir(), "test_data_set_0", "output_0.pb")

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def assert_error(self, result, code, *needles):
        """One line 'iskra: error: ...' on stderr, nothing on stdout, exit `code`."""
        msg = f"stdout={result.stdout!r} stderr={result.stderr!r}"
        self.assertEqual(result.returncode, code, msg)
        lines = result.stderr.splitlines()
        errors = [l for l in lines if l.startswith("iskra: error: ")]
        self.assertEqual(len(errors), 1, msg)
        self.assertEqual(len([l for l in lines if not l.startswith("iskra: note: ")]), 1, msg)
        self.assertEqual(result.stdout, "", msg)
        for needle in needles:
            self.assertIn(needle, errors[0], msg)


class CliTest(CliTestCase):
    # ---- errors -------------------------------------------------------------

    def test_nonexistent_model(self):
        self.assert_error(run("run", self.path("missing.onnx")), 1, "missing.onnx")
        self.assert_error(run("inspect", self.path("missing.onnx")), 1, "missing.onnx")

    def test_text_file_is_not_a_model(self):
        p = self.write("notes.onnx", b"hello, this is a text file and not a model\n" * 10)
        self.assert_error(run("run", p), 1, "notes.onnx")
        self.assert_error(run("inspect", p), 1, "notes.onnx")
        self.assert_error(run("run", self.write("empty.onnx", b"")), 1, "empty.onnx")

    def test_truncated_model(self):
        with open(self.model, "rb") as f:
            data = f.read()
        for cut in (len(data) // 3, len(data) // 2, len(data) - 3):
            p = self.write(f"cut{cut}.onnx", data[:cut])
            for command in ("run", "inspect"):
                r = run(command, p)
                # A cut can by chance leave a valid protobuf; it must never crash.
                self.assertIn(r.returncode, (0, 1), r.stderr)
                if r.returncode:
                    self.assert_error(r, 1, p)

    def test_unknown_input_name(self):
        self.assert_error(run("run", self.model, "--input", f"nope={self.input_pb}"), 1, "'nope'", "'x'")

    def test_wrong_input_shape(self):
        p = self.path("x45.npy")
        np.save(p, np.zeros((4, 5), np.float32))
        self.assert_error(run("run", self.model, "--input", f"x={p}"), 1, "shape", "[3,4,5]", "[4,5]")

    def test_wrong_input_dtype(self):
        p = self.path("x64.npy")
        np.save(p, np.zeros((3, 4, 5), np.float64))
        self.assert_error(run("run", self.model, "--input", f"x={p}"), 1, "f32", "f64", p)

    def test_bad_input_files(self):
        self.assert_error(run("run", self.model, "--input", f"x={self.path('nofile.npy')}"), 1, "nofile.npy")
        bad = self.write("bad.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'")
        self.assert_error(run("run", self.model, "--input", f"x={bad}"), 1, "bad.npy")
        p = self.path("fortran.npy")
        np.save(p, np.asfortranarray(np.zeros((3, 4, 5), np.float32)))
        self.assert_error(run("run", self.model, "--input", f"x={p}"), 1, "Fortran")
        p = self.path("complex.npy")
        np.save(p, np.zeros((3, 4, 5), np.complex64))
        self.assert_error(run("run", self.model, "--input", f"x={p}"), 1, "<c8")
        junk = self.write("junk.pb", b"\xff\xff\xff\xff garbage")
        self.assert_error(run("run", self.model, "--input", f"x={junk}"), 1, "junk.pb")

    def test_usage_errors(self):
        self.assert_error(run(), 2)
        self.assert_error(run("frobnicate"), 2)
        self.assert_error(run("run"), 2, "MODEL")
        self.assert_error(run("inspect"), 2, "MODEL")
        self.assert_error(run("run", self.model, "--bogus"), 2)
        self.assert_error(run("run", self.model, "--threads", "0"), 2)
        self.assert_error(run("run", self.model, "--threads", "many"), 2)
        self.assert_error(run("run", self.model, "--input", "x"), 2, "NAME=FILE")
        self.assert_error(run("run", self.model, "--input", "=file.npy"), 2, "NAME=FILE")
        self.assert_error(run("run", self.model, "--input", f"x={self.input_pb}", "--input", f"x={self.input_pb}"),
                          2, "twice")

    def test_help(self):
        for args in (["--help"], ["run", "--help"], ["inspect", "--help"]):
            r = run(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Usage", r.stdout)
        self.assertIn("--output-dir", run("run", "--help").stdout)
        self.assertIn("--json", run("inspect", "--help").stdout)

    # ---- good runs ------------------------------------------------------------

    def test_run_writes_expected_outputs(self):
        expected = numpy_helper.to_array(onnx.load_tensor(self.output_pb))
        x = numpy_helper.to_array(onnx.load_tensor(self.input_pb))
        npy_input = self.path("x.npy")
        np.save(npy_input, x)
        for source in (self.input_pb, npy_input):
            out = self.path("out_" + os.path.basename(source))
            r = run("run", self.model, "--input", f"x={source}", "--output-dir", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")
            self.assertIn("output 'y': f32[3,4,5]", r.stdout)
            self.assertIn("load: ", r.stdout)
            self.assertIn("run: ", r.stdout)
            self.assertEqual(os.listdir(out), ["y.npy"])
            y = np.load(os.path.join(out, "y.npy"))
            self.assertEqual(y.dtype, np.float32)
            self.assertEqual(y.shape, (3, 4, 5))
            np.testing.assert_array_equal(y, expected)
        # The summary's statistics.
        line = [l for l in r.stdout.splitlines() if l.startswith("output 'y'")][0]
        fields = line.split()
        self.assertAlmostEqual(float(fields[fields.index("max") + 1]), float(expected.max()), places=4)
        self.assertAlmostEqual(float(fields[fields.index("mean") + 1]), float(expected.mean()), places=4)

    def test_run_reference_and_threads(self):
        # The reference kernels and a thread pool give the same outputs as the default run.
        outs = {}
        for name, flags in {"default": [], "reference": ["--reference"], "threads": ["--threads", "2"],
                            "no_optimize": ["--no-optimize"]}.items():
            out = self.path(name)
            r = run("run", self.model, "--input", f"x={self.input_pb}", "-o", out, *flags)
            self.assertEqual(r.returncode, 0, r.stderr)
            outs[name] = np.load(os.path.join(out, "y.npy"))
        for name, y in outs.items():
            np.testing.assert_array_equal(y, outs["default"], name)
        self.assertIn("--reference", run("run", "--help").stdout)

    def test_random_inputs_are_deterministic(self):
        outs = []
        for i in range(2):
            out = self.path(f"rand{i}")
            r = run("run", self.model, "--output-dir", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            outs.append(np.load(os.path.join(out, "y.npy")))
        np.testing.assert_array_equal(outs[0], outs[1])
        self.assertTrue((outs[0] >= 0).all() and (outs[0] <= 1).all())
        self.assertGreater(outs[0].max(), 0)

    def test_without_output_dir_writes_nothing(self):
        r = run("run", self.model, cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(self.dir), [])

    def make_symbolic_model(self):
        """y:0/a = Relu(x) with x: f32[batch, 3, ?]; a second output of bool."""
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, None])
        y = helper.make_tensor_value_info("y:0/a", TensorProto.FLOAT, ["batch", 3, None])
        z = helper.make_tensor_value_info("z", TensorProto.BOOL, ["batch", 3, None])
        zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y:0/a"]), helper.make_node("Greater", ["x", "zero"], ["z"])],
            "g", [x], [y, z], initializer=[zero])
        model = helper.make_model(graph, producer_name="iskra-cli-test", opset_imports=[helper.make_opsetid("", 13)])
        p = self.path("symbolic.onnx")
        onnx.save(model, p)
        return p

    def test_symbolic_dims_and_output_names(self):
        model = self.make_symbolic_model()
        out = self.path("out")
        r = run("run", model, "--output-dir", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("iskra: note: input 'x': dim 0 ('batch') set to 1", r.stderr)
        self.assertIn("iskra: note: input 'x': dim 2 (unknown) set to 1", r.stderr)
        self.assertEqual(sorted(os.listdir(out)), ["y_0_a.npy", "z.npy"])
        y = np.load(os.path.join(out, "y_0_a.npy"))
        z = np.load(os.path.join(out, "z.npy"))
        self.assertEqual(y.shape, (1, 3, 1))
        self.assertEqual(z.dtype, np.bool_)
        np.testing.assert_array_equal(z, y > 0)

        # Partly given inputs, and a symbolic dim fed with another size.
        p = self.path("x.npy")
        np.save(p, np.arange(-4, 8, dtype=np.float32).reshape(2, 3, 2))
        r = run("run", model, "-i", f"x={p}", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        np.testing.assert_array_equal(np.load(os.path.join(out, "y_0_a.npy")),
                                      np.maximum(np.load(p), 0))

    def test_summary_counts_nans(self):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
        model = helper.make_model(helper.make_graph([helper.make_node("Sqrt", ["x"], ["y"])], "g", [x], [y]),
                                  opset_imports=[helper.make_opsetid("", 13)])
        p = self.path("sqrt.onnx")
        onnx.save(model, p)
        x_path = self.path("x.npy")
        np.save(x_path, np.array([-1, 4, 9, np.nan], np.float32))
        r = run("run", p, "--input", f"x={x_path}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("output 'y': f32[4] min 2 max 3 mean 2.5 nan 2", r.stdout)

    def test_inspect_real_model(self):
        # Installed by scripts/setup next to the backend test data.
        path = os.path.join(os.path.dirname(DATA), "npm", "node_modules", "@gutenye", "ocr-models", "assets",
                            "ch_PP-OCRv4_det_infer.onnx")
        if not os.path.exists(path):
            self.skipTest(f"{path} not installed (run scripts/setup)")
        info = json.loads(run("inspect", "--json", path).stdout)
        proto = onnx.load(path)
        self.assertEqual(info["opset"], 11)
        self.assertEqual(info["format_version"], proto.ir_version)
        # Constant nodes become constants: every other node is counted.
        self.assertEqual(info["nodes"], sum(n.op_type != "Constant" for n in proto.graph.node))
        self.assertEqual(info["parameters"]["tensors"], sum(n.op_type == "Constant" for n in proto.graph.node))
        self.assertEqual(info["ops"][0], {"op": "Add", "count": 89})

    def test_inspect(self):
        r = run("inspect", self.model)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("onnx", r.stdout)
        self.assertIn("Relu", r.stdout)
        self.assertRegex(r.stdout, r"x\s+f32 \[3,4,5\]")

        r = run("inspect", self.make_symbolic_model(), "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        self.assertEqual(info["format"], "onnx")
        self.assertEqual(info["producer"], "iskra-cli-test")
        self.assertEqual(info["opset"], 13)
        self.assertEqual(info["inputs"], [{"name": "x", "dtype": "f32", "shape": ["batch", 3, None]}])
        self.assertEqual([o["name"] for o in info["outputs"]], ["y:0/a", "z"])
        self.assertEqual(info["outputs"][1]["dtype"], "bool")
        self.assertEqual(info["nodes"], 2)
        self.assertEqual(info["parameters"], {"count": 1, "bytes": 4, "tensors": 1})
        self.assertEqual(sorted(op["op"] for op in info["ops"]), ["Greater", "Relu"])

    def test_inspect_subgraphs(self):
        # If with two branches: nodes and ops of subgraphs are counted.
        cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
        def branch(name, value):
            out = helper.make_tensor_value_info(name + "_out", TensorProto.FLOAT, [2])
            node = helper.make_node("Constant", [], [name + "_c"],
                                    value=helper.make_tensor(name + "_t", TensorProto.FLOAT, [2], [value, value]))
            neg = helper.make_node("Neg", [name + "_c"], [name + "_out"])
            return helper.make_graph([node, neg], name, [], [out])
        node = helper.make_node("If", ["cond"], ["y"], then_branch=branch("then", 1.0), else_branch=branch("else", 2.0))
        model = helper.make_model(helper.make_graph([node], "g", [cond], [y]),
                                  opset_imports=[helper.make_opsetid("", 13)])
        p = self.path("if.onnx")
        onnx.save(model, p)
        r = run("inspect", p, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        ops = {o["op"]: o["count"] for o in info["ops"]}
        self.assertEqual(ops.get("If"), 1)
        self.assertEqual(info["subgraphs"], 2)
        self.assertEqual(info["main_graph_nodes"], 1)
        self.assertEqual(ops.get("Neg"), 2, info)


LATENCY_KEYS = ["min", "median", "p90", "p99", "mean", "max"]


class TfliteCliTest(CliTestCase):
    """A real .tflite model (BlazeFace short range, installed by scripts/setup) through run,
    inspect and bench, and bad .tflite files: one error line, exit 1, no crash."""

    def setUp(self):
        super().setUp()
        self.tflite = os.path.join(os.path.dirname(DATA), "npm", "node_modules", "@mediapipe", "face_detection",
                                   "face_detection_short_range.tflite")
        if not os.path.exists(self.tflite):
            self.skipTest(f"{self.tflite} not installed (run scripts/setup)")
        with open(self.tflite, "rb") as f:
            self.data = f.read()

    def test_run_inspect_bench(self):
        x = self.path("input.npy")
        np.save(x, np.zeros((1, 128, 128, 3), np.float32))
        out = self.path("out")
        r = run("run", self.tflite, "--input", f"input={x}", "--output-dir", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(np.load(os.path.join(out, "regressors.npy")).shape, (1, 896, 16))
        self.assertEqual(np.load(os.path.join(out, "classificators.npy")).shape, (1, 896, 1))
        info = json.loads(run("inspect", "--json", self.tflite).stdout)
        self.assertEqual(info["format"], "tflite")
        self.assertEqual(info["format_version"], 3)
        self.assertEqual([i["name"] for i in info["inputs"]], ["input"])
        b = run("bench", "--json", "--runs", "2", "--warmup", "0", self.tflite)
        self.assertEqual(b.returncode, 0, b.stderr)
        self.assertGreater(json.loads(b.stdout)["latency_ms"]["median"], 0)

    def test_memory_limit(self):
        # BlazeFace plans a 1.5 MiB arena beside 0.4 MiB of weights: refused under 1 MiB,
        # naming the limit and the largest value; runs under 8 MiB.
        self.assert_error(run("run", self.tflite, "--memory-limit", "1"), 1, "memory limit of 1.0 MiB",
                          "its largest value: node 'channel_padding'")
        r = run("run", self.tflite, "--memory-limit", "8")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_error(run("bench", self.tflite, "--memory-limit", "0"), 2, "--memory-limit")

    def test_sniffed_from_content_not_name(self):
        p = self.write("blazeface.bin", self.data)
        r = run("inspect", "--json", p)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["format"], "tflite")

    def test_truncated_and_corrupt(self):
        for cut in (16, len(self.data) // 3, len(self.data) // 2):
            p = self.write(f"cut{cut}.tflite", self.data[:cut])
            for command in ("run", "inspect"):
                self.assert_error(run(command, p), 1, p, "verifier")
        # The root table's vtable offset pointed far outside the file.
        corrupt = bytearray(self.data)
        root = int.from_bytes(corrupt[0:4], "little")
        corrupt[root:root + 4] = (0x7FFFFFF0).to_bytes(4, "little")
        self.assert_error(run("run", self.write("corrupt.tflite", bytes(corrupt))), 1, "verifier")

    def test_wrong_input_shape(self):
        x = self.path("x.npy")
        np.save(x, np.zeros((1, 3, 128, 128), np.float32))
        self.assert_error(run("run", self.tflite, "--input", f"input={x}"), 1, "'input'", "[1,128,128,3]")


class BenchTest(CliTestCase):
    """iskra bench, its FLOP counts, and bench/compare."""

    def bench_json(self, *args):
        r = run("bench", *args, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")  # no progress or notes: the inputs are given or fully shaped
        return json.loads(r.stdout)  # stdout is one JSON object and nothing else

    def test_json_keys_and_values(self):
        j = self.bench_json(self.model, "--runs", "5", "--warmup", "1", "--input", f"x={self.input_pb}")
        for key in ("model", "load_ms", "first_run_ms", "latency_ms", "peak_rss_mb", "arena_mb", "threads", "runs",
                    "warmup", "nodes", "fast_nodes", "dynamic_nodes"):
            self.assertIn(key, j)
        self.assertEqual((j["model"], j["runs"], j["warmup"], j["threads"]), (self.model, 5, 1, 1))
        self.assertEqual(j["inputs"], [{"name": "x", "dtype": "f32", "shape": [3, 4, 5]}])
        lat = j["latency_ms"]
        self.assertEqual(list(lat), LATENCY_KEYS)
        self.assertGreater(lat["min"], 0)
        self.assertTrue(lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat)
        self.assertTrue(lat["min"] <= lat["mean"] <= lat["max"], lat)
        self.assertLess(lat["max"], 1000)  # one Relu of 60 values
        self.assertGreater(j["load_ms"], 0)
        self.assertGreater(j["first_run_ms"], 0)
        self.assertTrue(1 < j["peak_rss_mb"] < 10000, j["peak_rss_mb"])
        self.assertTrue(0 <= j["arena_mb"] < 1, j["arena_mb"])
        self.assertEqual((j["nodes"], j["dynamic_nodes"]), (1, 0))
        self.assertIn(j["fast_nodes"], (0, 1))
        self.assertNotIn("profile", j)

        j = self.bench_json(self.model, "--runs", "1", "--warmup", "0", "--threads", "2", "--reference")
        self.assertEqual((j["runs"], j["warmup"], j["threads"], j["reference"]), (1, 0, 2, True))
        self.assertEqual(j["fast_nodes"], 0)
        lat = j["latency_ms"]
        self.assertEqual(len({lat[k] for k in LATENCY_KEYS}), 1, lat)  # one run: every statistic is that run

    def test_text_output(self):
        r = run("bench", self.model, "--runs", "3", "--warmup", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        for needle in ("model:", "load:", "first run:", "3 runs after 0 warmup", "median", "p99", "peak RSS:",
                       "arena:", "nodes:      1 ("):
            self.assertIn(needle, r.stdout)
        self.assertNotIn("profile", r.stdout)

    def make_flops_model(self):
        """Conv (grouped, strided, padded) -> ConvTranspose -> MatMul -> Relu, and a Gemm with transA
        on a second input. Returns the path and the FLOPs (2 per multiply-add) of each node by name."""
        rng = np.random.default_rng(0)
        def weight(name, *shape):
            return numpy_helper.from_array(rng.uniform(-1, 1, shape).astype(np.float32), name)
        nodes = [
            helper.make_node("Conv", ["x", "w_conv"], ["c"], name="conv", group=2, strides=[2, 2], pads=[1, 1, 1, 1]),
            helper.make_node("ConvTranspose", ["c", "w_convt"], ["t"], name="convt", strides=[2, 2]),
            helper.make_node("MatMul", ["t", "b_matmul"], ["m"], name="matmul"),
            helper.make_node("Relu", ["m"], ["y"], name="relu"),
            helper.make_node("Gemm", ["a", "b_gemm"], ["g"], name="gemm", transA=1),
        ]
        inits = [weight("w_conv", 6, 2, 3, 3), weight("w_convt", 6, 3, 2, 2), weight("b_matmul", 12, 7),
                 weight("b_gemm", 5, 8)]
        graph = helper.make_graph(
            nodes, "flops",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 9, 11]),
             helper.make_tensor_value_info("a", TensorProto.FLOAT, [5, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
             helper.make_tensor_value_info("g", TensorProto.FLOAT, None)],
            initializer=inits)
        p = self.path("flops.onnx")
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), p)
        # Conv: out = (in + 2*pad - k) // stride + 1 -> c [1,6,5,6]; each output sums (4/2)*3*3 products.
        # ConvTranspose: each of the 1*6*5*6 inputs meets 3*2*2 weights -> t [1,3,10,12].
        # MatMul: m [1,3,10,7], dot products of length 12. Gemm: A^T [4,5] x [5,8] -> [4,8].
        flops = {"conv": 2 * (1 * 6 * 5 * 6) * (2 * 3 * 3), "convt": 2 * (1 * 6 * 5 * 6) * (3 * 2 * 2),
                 "matmul": 2 * (1 * 3 * 10 * 7) * 12, "gemm": 2 * (4 * 8) * 5, "relu": None}
        return p, flops

    def test_profile_flops(self):
        model, flops = self.make_flops_model()
        j = self.bench_json(model, "--runs", "3", "--warmup", "1", "--profile", "--no-optimize")
        nodes = {n["name"]: n for n in j["profile"]}
        self.assertEqual(sorted(nodes), sorted(flops))
        for name, expected in flops.items():
            n = nodes[name]
            self.assertEqual(n["flops"], expected, name)
            self.assertEqual(n["calls"], 3, name)
            self.assertIn(n["kernel"], ("fast", "reference"), name)
            self.assertEqual(n["fast_kernel"], n["kernel"] == "fast", name)
            self.assertGreaterEqual(n["ms_per_run"], 0, name)
            if expected is None:
                self.assertIsNone(n["gflop_per_s"], name)
            elif n["ms_per_run"] > 0:
                self.assertAlmostEqual(n["gflop_per_s"], expected / (n["ms_per_run"] * 1e6),
                                       delta=1e-6 * n["gflop_per_s"])
        self.assertEqual(nodes["conv"]["output"], "f32[1,6,5,6]")
        self.assertEqual(nodes["matmul"]["output"], "f32[1,3,10,7]")
        self.assertAlmostEqual(sum(n["percent"] for n in j["profile"]), 100, places=6)
        times = [n["ms_per_run"] for n in j["profile"]]
        self.assertEqual(times, sorted(times, reverse=True))  # slowest first
        ops = {o["op"]: o for o in j["profile_ops"]}
        self.assertEqual(sorted(ops), ["Conv", "ConvTranspose", "Gemm", "MatMul", "Relu"])
        self.assertEqual(ops["Conv"]["nodes"], 1)
        self.assertAlmostEqual(ops["MatMul"]["ms_per_run"], nodes["matmul"]["ms_per_run"])

        # Every node reference: none counted fast.
        j = self.bench_json(model, "--runs", "1", "--profile", "--reference")
        self.assertEqual({n["kernel"] for n in j["profile"]}, {"reference"})

        r = run("bench", model, "--runs", "2", "--profile", "--nchw")
        self.assertEqual(r.returncode, 0, r.stderr)
        for needle in ("profile: 2 runs", "GFLOP/s", "top 5 of the 5 nodes", "convt", "ConvTranspose", "f32[4,8]"):
            self.assertIn(needle, r.stdout)

        # With the layout pass the convolutions run channels-last, between two
        # transposes, and keep their FLOP counts.
        j = self.bench_json(model, "--runs", "2", "--profile")
        nodes = {n["name"]: n for n in j["profile"]}
        self.assertEqual(nodes["conv"]["op"], "FusedConvNhwc")
        self.assertEqual(nodes["convt"]["op"], "ConvTransposeNhwc")
        for name in ("conv", "convt"):
            self.assertEqual(nodes[name]["flops"], flops[name], name)
        self.assertEqual(sum(n["op"] == "Transpose" for n in j["profile"]), 2)

    def test_errors(self):
        missing = self.path("missing.onnx")
        self.assert_error(run("bench", missing), 1, "missing.onnx")
        self.assert_error(run("bench", missing, "--json"), 1, "missing.onnx")
        for flags, needle in ((["--runs", "0"], "--runs"), (["--runs", "-3"], "--runs"), (["--runs", "x"], "--runs"),
                              (["--warmup", "-1"], "--warmup"), (["--threads", "0"], "--threads"),
                              (["--threads", "many"], "--threads"), (["--threads", "-2"], "--threads"),
                              (["--input", "x"], "NAME=FILE"), (["--bogus"], "--bogus")):
            self.assert_error(run("bench", self.model, *flags), 2, needle)
        self.assert_error(run("bench"), 2, "MODEL")
        self.assert_error(run("bench", self.model, "--input", f"nope={self.input_pb}"), 1, "'nope'")
        r = run("bench", "--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--runs", "--warmup", "--threads", "--profile", "--json", "--reference", "--no-optimize"):
            self.assertIn(flag, r.stdout)

    def test_compare(self):
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        import models as zoo
        model = zoo.get("squeezenet1_1_opset17")
        if not model.present:
            self.skipTest(f"{model.path} not installed (run scripts/setup)")
        out = self.path("compare.json")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "compare"), "--models", model.name,
                            "--threads", "1", "--rounds", "1", "--runs", "2", "--warmup", "0", "--iskra", ISKRA,
                            "--json-out", out, "--work-dir", self.path("work")],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            report = json.load(f)
        self.assertRegex(report["git"]["commit"], "^[0-9a-f]{40}$")
        self.assertEqual(report["settings"]["runs"], 2)
        [result] = report["results"]
        self.assertEqual((result["model"], result["threads"]), (model.name, 1))
        iskra, ort = result["iskra"], result["ort"]
        for side in (iskra, ort):
            self.assertNotIn("error", side)
            self.assertEqual(len(side["round_medians_ms"]), 1)
            self.assertEqual(side["median_ms"], side["round_medians_ms"][0])
            self.assertTrue(0 < side["min_ms"] <= side["median_ms"], side)
            self.assertGreater(side["load_ms"], 0)
            self.assertGreater(side["peak_rss_mb"], 1)
        self.assertEqual(iskra["nodes"] > 0, True)
        self.assertAlmostEqual(result["ratio"], iskra["median_ms"] / ort["median_ms"])
        self.assertAlmostEqual(report["geomean_ratio"]["1"], result["ratio"])
        self.assertAlmostEqual(report["geomean_ratio"]["all"], result["ratio"])
        self.assertIn(f"| {model.name} | 1 |", r.stdout)
        self.assertTrue(os.path.isfile(os.path.join(self.path("work"), model.name, "input.npy")))


def main():
    global ISKRA, DATA
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    ISKRA, DATA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.path.exists(os.path.join(relu_dir(), "model.onnx")):
        print(f"SKIP: {relu_dir()} not found (run scripts/setup)")
        return 77
    program = unittest.main(argv=[sys.argv[0], *sys.argv[3:]], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
