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


def relu_dir():
    return os.path.join(DATA, "node", "test_relu")


def run(*args, cwd=None):
    return subprocess.run([ISKRA, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


class CliTest(unittest.TestCase):
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
