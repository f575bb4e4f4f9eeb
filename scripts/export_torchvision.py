#!/usr/bin/python3
"""Exports torchvision architectures to ONNX with seeded random weights.

Runs with Debian's system python (/usr/bin/python3 with python3-torch and
python3-torchvision), not the project's .venv, which has no torch. The list of
architectures, opsets and the input shape comes from scripts/models.py.

Weights: torch.manual_seed(0) per model, torchvision's own initialisation
(weights=None). With that alone every BatchNorm would be the identity in eval
mode (mean 0, var 1, scale 1, shift 0), so a BatchNorm-folding bug could not
show. So each BatchNorm also gets a seeded random scale and shift, and its
running mean and variance are measured by a few training-mode forward passes
over seeded random images and then perturbed; the activations keep a sensible
scale through deep nets and every BatchNorm does real arithmetic.

Graph: exported in eval mode with torch.onnx.TrainingMode.PRESERVE, which keeps
the BatchNormalization nodes (the default EVAL mode would fold them into the
convolutions during export, leaving Iskra's folding pass nothing to do).
Constant folding of other subgraphs is on, as in a usual export.

usage: export_torchvision.py [OUT_DIR] [--force] [--check] [--only NAME ...]
OUT_DIR defaults to .cache/models/torchvision. Existing files are kept unless
this script changed since they were written (a stamp file holds its hash) or
--force is given.
"""
import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models as model_list  # noqa: E402  (stdlib-only module)

STAMP = "STAMP"


def script_hash():
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def targets(out_dir, only):
    for arch in model_list.TORCHVISION_ARCHS:
        for opset in model_list.TORCHVISION_OPSETS:
            name = f"{arch}_opset{opset}"
            if only and name not in only and arch not in only:
                continue
            yield arch, opset, out_dir / f"{name}.onnx"


def build(arch):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for bn in bns:
            if bn.affine:
                bn.weight.copy_(torch.empty_like(bn.weight).uniform_(0.5, 1.5, generator=g))
                bn.bias.copy_(torch.empty_like(bn.bias).normal_(0.0, 0.2, generator=g))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration passes
        if bns:
            model.train()
            for _ in range(4):
                model(torch.randn(4, *model_list.TORCHVISION_INPUT_SHAPE[1:], generator=g))
            for bn in bns:
                n = bn.running_mean.shape
                bn.running_mean.add_(torch.randn(n, generator=g) * 0.1 * bn.running_var.sqrt())
                bn.running_var.mul_(torch.empty(n).uniform_(0.7, 1.4, generator=g))
                bn.momentum = 0.1
    model.eval()
    return model


def export(arch, opset, path):
    import torch

    model = build(arch)
    x = torch.randn(*model_list.TORCHVISION_INPUT_SHAPE, generator=torch.Generator().manual_seed(2))
    tmp = path.with_suffix(".onnx.tmp")
    with torch.no_grad():
        torch.onnx.export(
            model, x, str(tmp),
            opset_version=opset,
            input_names=[model_list.TORCHVISION_INPUT_NAME],
            output_names=[model_list.TORCHVISION_OUTPUT_NAME],
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=True,
        )
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="Export torchvision models with seeded random weights to ONNX.")
    ap.add_argument("out_dir", nargs="?", default=str(model_list.TORCHVISION_DIR))
    ap.add_argument("--force", action="store_true", help="re-export even if the files exist")
    ap.add_argument("--only", nargs="+", default=[], help="architectures or <arch>_opset<N> names")
    ap.add_argument("--check", action="store_true",
                    help="export nothing; exit 0 if every file is present and current, 1 if not")
    args = ap.parse_args()

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / STAMP
    current = script_hash()
    stale = args.force or not stamp.is_file() or stamp.read_text().strip() != current
    todo = [(a, o, p) for a, o, p in targets(out_dir, set(args.only)) if stale or not p.is_file()]
    if args.check or not todo:
        if not todo:
            print(f"export_torchvision: all {len(list(targets(out_dir, set(args.only))))} models present in {out_dir}")
        else:
            print(f"export_torchvision: {len(todo)} model(s) to export to {out_dir}")
        return 1 if todo else 0
    if stale and stamp.is_file():
        stamp.unlink()

    import torch
    import torchvision
    import warnings

    warnings.filterwarnings("ignore")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print(f"export_torchvision: torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{len(todo)} model(s) to {out_dir}", flush=True)
    for arch, opset, path in todo:
        t0 = time.monotonic()
        export(arch, opset, path)
        print(f"  {path.name}: {path.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s", flush=True)
    if not args.only:
        stamp.write_text(current + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
