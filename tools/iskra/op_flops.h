// Floating-point work of one call of a node, for GFLOP/s in `iskra bench --profile`.
#pragma once

#include <optional>
#include <span>

#include "ir/graph.h"

namespace iskra::cli {

// A node's input or output shapes by position; nullptr where the value is
// absent or its shape is not known at plan time.
using ShapeRefs = std::span<const Shape* const>;

// FLOPs of one call of `node`: 2 per multiply-add of a Conv (FusedConv),
// ConvTranspose, MatMul or Gemm, computed from its attributes and shapes
// (bias, activation and every other op: not counted). nullopt for other ops
// or when a needed shape is unknown or malformed.
std::optional<double> op_flops(const Node& node, ShapeRefs inputs, ShapeRefs outputs);

}  // namespace iskra::cli
