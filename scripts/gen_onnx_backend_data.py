#!/usr/bin/env python3
"""Writes the ONNX backend test data to a folder, in the layout of onnx's repo.

The `onnx` wheel ships the `simple`, `pytorch-*` and `real` data but only the
generators of the `node` tests; this script runs those generators (exactly as
onnx's own `backend-test-tools generate-data` does for the other kinds) and
copies the shipped kinds next to them.

usage: gen_onnx_backend_data.py OUTPUT_DIR
"""
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import onnx.backend.test.case.node as node_cases

warnings.filterwarnings("ignore")


def write_tensor(path, value, name, value_info):
    if isinstance(value, onnx.TensorProto):
        data = value.SerializeToString()
    elif value_info.type.HasField("sequence_type"):
        data = numpy_helper.from_list(value, name).SerializeToString()
    elif value_info.type.HasField("optional_type"):
        data = numpy_helper.from_optional(value, name).SerializeToString()
    elif value_info.type.HasField("map_type"):
        data = numpy_helper.from_dict(value, name).SerializeToString()
    else:
        data = numpy_helper.from_array(np.asarray(value), name).SerializeToString()
    with open(path, "wb") as f:
        f.write(data)


def main():
    out = sys.argv[1]
    node_dir = os.path.join(out, "node")
    shutil.rmtree(node_dir, ignore_errors=True)
    cases = node_cases.collect_testcases()
    for case in cases:
        case_dir = os.path.join(node_dir, case.name)
        os.makedirs(case_dir)
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets):
            set_dir = os.path.join(case_dir, f"test_data_set_{i}")
            os.makedirs(set_dir)
            g = case.model.graph
            for j, value in enumerate(inputs):
                write_tensor(os.path.join(set_dir, f"input_{j}.pb"), value, g.input[j].name, g.input[j])
            for j, value in enumerate(outputs):
                write_tensor(os.path.join(set_dir, f"output_{j}.pb"), value, g.output[j].name, g.output[j])
    shipped = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    for kind in ("simple", "pytorch-converted", "pytorch-operator"):
        dst = os.path.join(out, kind)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(os.path.join(shipped, kind), dst)
    with open(os.path.join(out, "VERSION"), "w") as f:
        f.write(f"onnx {onnx.__version__}\n")
    print(f"wrote {len(cases)} node tests and the shipped kinds to {out}")


if __name__ == "__main__":
    main()
