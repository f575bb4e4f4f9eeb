#include "import/onnx/onnx_op_mapping.h"

#include <set>

namespace iskra {

namespace {

// Appends inputs (kNoValue) up to `count` so that position `count-1` exists.
void ensure_inputs(Node& node, size_t count) {
  if (node.inputs.size() < count) node.inputs.resize(count, kNoValue);
}

int add_int64_constant(Graph& graph, const Node& node, const std::string& what, const std::vector<int64_t>& values) {
  auto t = Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values);
  return graph.add_constant(node.name + "/" + what, std::move(t).value());
}

int add_float_scalar(Graph& graph, const Node& node, const std::string& what, float value) {
  auto t = Tensor::from_vector<float>({}, {value});
  return graph.add_constant(node.name + "/" + what, std::move(t).value());
}

// Moves int-list attribute `attr` (if present) into input slot `index`.
void move_ints_attr_to_input(Graph& graph, Node& node, const std::string& attr, size_t index) {
  if (!node.has_attr(attr)) return;
  const std::vector<int64_t> values = node.attr_ints(attr);
  node.attrs.erase(attr);
  ensure_inputs(node, index + 1);
  node.inputs[index] = add_int64_constant(graph, node, attr, values);
}

bool is_reduce(const std::string& op) {
  static const std::set<std::string> kReduce = {"ReduceL1",  "ReduceL2",  "ReduceLogSum", "ReduceLogSumExp",
                                                "ReduceMax", "ReduceMean", "ReduceMin",   "ReduceProd",
                                                "ReduceSum", "ReduceSumSquare"};
  return kReduce.count(op) != 0;
}

// Opset < 7 Add/Sub/Mul/Div with `broadcast`: B aligned at `axis` of A. Only
// the numpy-compatible case (no axis, or axis putting B at A's end) is kept.
Status map_legacy_broadcast(Node& node, const Graph& graph) {
  if (!node.has_attr("broadcast")) return Status::ok();
  const int64_t broadcast = node.attr_int("broadcast", 0);
  const bool has_axis = node.has_attr("axis");
  node.attrs.erase("broadcast");
  if (!broadcast || !has_axis) {
    node.attrs.erase("axis");
    return Status::ok();
  }
  const int64_t axis = node.attr_int("axis", 0);
  node.attrs.erase("axis");
  if (node.inputs.size() != 2) return invalid_model(node.label(), "has ", node.inputs.size(), " inputs, expected 2");
  const Value& a = graph.value(node.inputs[0]);
  const Value& b = graph.value(node.inputs[1]);
  if (a.shape && b.shape && axis + static_cast<int64_t>(b.shape->size()) == static_cast<int64_t>(a.shape->size()))
    return Status::ok();
  // B aligned in the middle of A: make it numpy-aligned by reshaping a constant B.
  if (b.constant && a.shape) {
    Shape shape = b.constant->shape();
    const int64_t trailing = static_cast<int64_t>(a.shape->size()) - axis - static_cast<int64_t>(shape.size());
    if (trailing < 0) return invalid_model(node.label(), "legacy broadcast axis ", axis, " out of range");
    for (int64_t i = 0; i < trailing; ++i) shape.push_back(1);
    Graph& g = const_cast<Graph&>(graph);
    node.inputs[1] = g.add_constant(b.name + "/aligned", b.constant->reshaped(shape));
    return Status::ok();
  }
  return unsupported(node.label(), "legacy broadcast with axis=", axis, " on a non-constant operand");
}

}  // namespace

Status map_onnx_op(const OnnxOpId& id, Node& node, Graph& graph) {
  const std::string& op = id.op_type;
  const int64_t v = id.opset;
  if (!id.domain.empty() && id.domain != "ai.onnx")
    return unsupported(node.label(), "op '", op, "' of domain '", id.domain, "' is not supported");

  // The legacy forms rewritten below rebuild the input list around the first
  // input; a node without one is malformed (not an input 0 that means value 0).
  const bool rewrites_input_list = op == "Upsample" || (op == "Resize" && v < 11) || (op == "Slice" && v < 10) ||
                                   (op == "Pad" && v < 11) || (op == "Clip" && v < 11);
  if (rewrites_input_list && !node.has_input(0)) return invalid_model(node.label(), "has no first input");

  std::string ir_name = op;
  if (op == "Upsample" || (op == "Resize" && v < 11)) {
    // (X, scales) with asymmetric coordinates → Resize(X, roi, scales).
    ir_name = "Resize";
    std::string mode = node.attr_string("mode", "nearest");
    if (mode == "bilinear") mode = "linear";
    node.attrs.clear();
    node.attrs["mode"] = mode;
    node.attrs["coordinate_transformation_mode"] = std::string("asymmetric");
    node.attrs["nearest_mode"] = std::string("floor");
    int scales = kNoValue;
    if (node.has_input(1)) scales = node.inputs[1];
    else if (op == "Upsample" && node.has_attr("scales")) {
      const std::vector<float> s = node.attr_floats("scales");
      auto t = Tensor::from_vector<float>({static_cast<int64_t>(s.size())}, s);
      scales = graph.add_constant(node.name + "/scales", std::move(t).value());
      node.attrs.erase("scales");
    }
    if (scales == kNoValue) return invalid_model(node.label(), "missing scales");
    node.inputs = {node.inputs[0], kNoValue, scales};
  } else if (op == "Scatter") {
    ir_name = "ScatterElements";
  } else if (is_reduce(op)) {
    const int64_t axes_became_input = op == "ReduceSum" ? 13 : 18;
    if (v < axes_became_input) move_ints_attr_to_input(graph, node, "axes", 1);
  } else if ((op == "Squeeze" || op == "Unsqueeze") && v < 13) {
    move_ints_attr_to_input(graph, node, "axes", 1);
  } else if (op == "Split" && v < 13) {
    move_ints_attr_to_input(graph, node, "split", 1);
  } else if (op == "Slice" && v < 10) {
    std::vector<int64_t> starts = node.attr_ints("starts"), ends = node.attr_ints("ends");
    const bool has_axes = node.has_attr("axes");
    std::vector<int64_t> axes = node.attr_ints("axes");
    node.attrs.clear();
    node.inputs.resize(1);
    node.inputs.push_back(add_int64_constant(graph, node, "starts", starts));
    node.inputs.push_back(add_int64_constant(graph, node, "ends", ends));
    if (has_axes) node.inputs.push_back(add_int64_constant(graph, node, "axes", axes));
  } else if (op == "Pad" && v < 11) {
    const std::vector<int64_t> pads = node.attr_ints("pads");
    const float value = node.attr_float("value", 0.0f);
    node.attrs.erase("pads");
    node.attrs.erase("value");
    node.inputs.resize(1);
    node.inputs.push_back(add_int64_constant(graph, node, "pads", pads));
    node.inputs.push_back(add_float_scalar(graph, node, "value", value));
  } else if (op == "Clip" && v < 11) {
    const bool has_min = node.has_attr("min"), has_max = node.has_attr("max");
    const float lo = node.attr_float("min", 0.0f), hi = node.attr_float("max", 0.0f);
    node.attrs.clear();
    node.inputs.resize(1);
    node.inputs.push_back(has_min ? add_float_scalar(graph, node, "min", lo) : kNoValue);
    node.inputs.push_back(has_max ? add_float_scalar(graph, node, "max", hi) : kNoValue);
  } else if (op == "TopK" && v < 10) {
    const int64_t k = node.attr_int("k", -1);
    node.attrs.erase("k");
    ensure_inputs(node, 2);
    node.inputs[1] = add_int64_constant(graph, node, "k", {k});
  } else if (op == "Dropout" && v < 12) {
    node.attrs.clear();  // ratio/is_test: inference is identity
  } else if ((op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && v < 13) {
    node.attrs["axis"] = node.attr_int("axis", 1);
    node.attrs["coerce_2d"] = int64_t{1};
  } else if (op == "Reshape" && v < 5) {
    move_ints_attr_to_input(graph, node, "shape", 1);
  } else if (op == "DFT" && v < 20) {
    const int64_t axis = node.attr_int("axis", 1);
    node.attrs.erase("axis");
    ensure_inputs(node, 3);
    auto t = Tensor::from_vector<int64_t>({}, {axis});
    node.inputs[2] = graph.add_constant(node.name + "/axis", std::move(t).value());
  } else if ((op == "Add" || op == "Sub" || op == "Mul" || op == "Div") && v < 7) {
    ISKRA_RETURN_IF_ERROR(map_legacy_broadcast(node, graph));
  } else if (op == "PRelu" && v < 7 && node.has_input(1)) {
    // Before opset 7 a 1-D slope of size C applied along axis 1, not the last axis.
    const Value& x = graph.value(node.inputs[0]);
    const Value& slope = graph.value(node.inputs[1]);
    if (slope.constant && slope.constant->rank() == 1 && slope.constant->dim(0) > 1 && x.shape && x.shape->size() > 2) {
      Shape shape = {slope.constant->dim(0)};
      shape.resize(x.shape->size() - 1, 1);
      node.inputs[1] = graph.add_constant(slope.name + "/channel_aligned", slope.constant->reshaped(shape));
    }
  } else if (op == "BatchNormalization" && v < 9) {
    node.attrs.erase("spatial");
    node.attrs.erase("is_test");
    node.attrs.erase("consumed_inputs");
  } else if (op == "Scan" && v < 9) {
    return unsupported(node.label(), "Scan of opset ", v, " (with batch axis) is not supported; opset >= 9 is");
  }
  node.attrs.erase("consumed_inputs");  // opset-1 bookkeeping attribute

  auto kind = op_from_name(ir_name);
  if (!kind) return unsupported(node.label(), "op '", op, "' (opset ", v, ") is not supported");
  node.op = *kind;
  return Status::ok();
}

}  // namespace iskra
