// Maps an ONNX node (domain, op_type, opset) onto an IR op, rewriting older
// opset forms into the newest one: attributes that later became inputs are
// turned into constant inputs, renamed ops are renamed, and so on.
#pragma once

#include <string>

#include "base/status.h"
#include "ir/graph.h"

namespace iskra {

struct OnnxOpId {
  std::string domain;  // "" for the default domain
  std::string op_type;
  int64_t opset = 0;   // the model's opset for that domain
};

// On entry `node` holds the inputs, outputs and attributes as written in the
// file; on success node.op is set and the node is in IR form. May add
// constant values to `graph`.
Status map_onnx_op(const OnnxOpId& id, Node& node, Graph& graph);

}  // namespace iskra
