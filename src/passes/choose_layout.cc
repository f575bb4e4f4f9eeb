// The channels-last layout pass. 2-D convolutions and pools run in NHWC,
// where their fast kernels read a pixel's channels contiguously (a 1x1 conv
// is a plain GEMM, a depthwise conv vectorizes over channels); the ops
// around them follow the layout when their meaning survives a permutation of
// their attributes and constant operands, so transposes are only inserted
// where the graph needs NCHW.
//
// Every value keeps its NCHW meaning; a value computed in NHWC gets a new
// twin value holding the same tensor with its dims permuted to [N, H, W, C].
// Walking the nodes in order:
//   anchors    Conv/FusedConv with constant 4-D float32 weights, ConvTranspose
//              (group 1), and 2-D MaxPool / AveragePool whose input already
//              has a twin become FusedConvNhwc, ConvTransposeNhwc, MaxPoolNhwc,
//              AveragePoolNhwc, reading their input's twin (made by a
//              Transpose if there is none yet).
//   followers  ops with an input that has a twin, and whose every other data
//              input has one too, is a constant (permuted once) or a declared
//              4-D value (transposed), are rewritten in place on the twins:
//              elementwise unary and broadcasting ops, Concat, Split, Resize,
//              Pad, Slice, Softmax, Reduce* (keepdims), the global pools (as
//              ReduceMean/ReduceMax over axes 1, 2), BatchNormalization (as
//              Mul and Add with per-channel constants); a Transpose reading a
//              twin composes the permutations, and when they cancel its output
//              is the twin itself (an alias, no node).
//   NHWC→NCHW  a Transpose with perm [0, 3, 1, 2] of a value without a twin
//              makes no node: its input is the output's twin. Graphs that are
//              channels-last already (TFLite, tf2onnx) wrap each conv in such
//              transposes; with the alias above they cancel.
//   others     read NCHW: a value that only exists as a twin gets a Transpose
//              back, made once and shared; so do graph outputs.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "kernels/layout.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace iskra {

namespace {

using Perm = std::array<int, 4>;

bool is_unary_elementwise(OpKind op) {
  switch (op) {
    case OpKind::Abs: case OpKind::Acos: case OpKind::Acosh: case OpKind::Asin: case OpKind::Asinh:
    case OpKind::Atan: case OpKind::Atanh: case OpKind::Ceil: case OpKind::Cos: case OpKind::Cosh:
    case OpKind::Erf: case OpKind::Exp: case OpKind::Floor: case OpKind::IsInf: case OpKind::IsNaN:
    case OpKind::Log: case OpKind::Neg: case OpKind::Not: case OpKind::Reciprocal: case OpKind::Round:
    case OpKind::Sign: case OpKind::Sin: case OpKind::Sinh: case OpKind::Sqrt: case OpKind::Tan:
    case OpKind::Tanh: case OpKind::BitwiseNot: case OpKind::Celu: case OpKind::Elu: case OpKind::Gelu:
    case OpKind::HardSigmoid: case OpKind::HardSwish: case OpKind::LeakyRelu: case OpKind::Mish:
    case OpKind::Relu: case OpKind::Selu: case OpKind::Shrink: case OpKind::Sigmoid: case OpKind::Softplus:
    case OpKind::Softsign: case OpKind::Swish: case OpKind::ThresholdedRelu: case OpKind::Cast:
    case OpKind::Identity:
      return true;
    default:
      return false;
  }
}

// Ops whose data inputs all broadcast against each other (numpy rules).
bool is_broadcasting(OpKind op) {
  switch (op) {
    case OpKind::Add: case OpKind::And: case OpKind::BitShift: case OpKind::BitwiseAnd:
    case OpKind::BitwiseOr: case OpKind::BitwiseXor: case OpKind::Div: case OpKind::Equal:
    case OpKind::Greater: case OpKind::GreaterOrEqual: case OpKind::Less: case OpKind::LessOrEqual:
    case OpKind::Max: case OpKind::Mean: case OpKind::Min: case OpKind::Mod: case OpKind::Mul:
    case OpKind::Or: case OpKind::Pow: case OpKind::Sub: case OpKind::Sum: case OpKind::Where:
    case OpKind::Xor: case OpKind::PRelu:
      return true;
    default:
      return false;
  }
}

bool is_keepdims_reduce(OpKind op) {
  switch (op) {
    case OpKind::ReduceLogSum: case OpKind::ReduceLogSumExp: case OpKind::ReduceMax: case OpKind::ReduceMean:
    case OpKind::ReduceMin: case OpKind::ReduceProd: case OpKind::ReduceSum: case OpKind::ReduceSumSquare:
      return true;
    default:
      return false;
  }
}

// An NCHW axis attribute value of a 4-D tensor, as an NHWC axis; nullopt if out of range.
std::optional<int64_t> nhwc_axis(int64_t axis) {
  if (axis < -4 || axis >= 4) return std::nullopt;
  return kNhwcAxisOf[static_cast<size_t>(axis < 0 ? axis + 4 : axis)];
}

Tensor int64_tensor(const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>(Shape{static_cast<int64_t>(values.size())}, values).value();
}

class LayoutChooser {
 public:
  explicit LayoutChooser(Graph& graph)
      : graph_(graph),
        twin_(graph.values.size(), kNoValue),
        available_(graph.values.size(), false),
        permuted_constant_(graph.values.size(), kNoValue),
        alias_(graph.values.size(), kNoValue) {
    for (int id : graph.inputs) available_[static_cast<size_t>(id)] = true;
    for (int id : graph.captures)
      if (id != kNoValue) available_[static_cast<size_t>(id)] = true;
    for (size_t v = 0; v < graph.values.size(); ++v)
      if (graph.values[v].constant) available_[v] = true;
  }

  int run() {
    std::vector<Node> nodes = std::move(graph_.nodes);
    graph_.nodes.clear();
    for (Node& node : nodes) {
      for (int& id : node.inputs)
        if (id != kNoValue && alias_[static_cast<size_t>(id)] != kNoValue) id = alias_[static_cast<size_t>(id)];
      // Every conversion reads input 0 and writes output 0 (the converters rely on this check); a
      // node without them (a malformed model) stays as it is, for its kernel to report.
      const bool convertible = node.has_input(0) && node.has_output(0);
      if (convertible && (convert_anchor(node) || convert_follower(node))) {
        ++converted_;
        continue;
      }
      emit_as_is(std::move(node));
    }
    for (int id : graph_.outputs) require_nchw(id);
    passes::remove_nodes(graph_, std::vector<bool>(graph_.nodes.size(), false));  // producers, unused constants
    return converted_;
  }

 private:
  // --- values -----------------------------------------------------------------

  bool has_twin(int v) const { return v != kNoValue && twin_[static_cast<size_t>(v)] != kNoValue; }
  bool is_constant(int v) const { return v != kNoValue && graph_.value(v).constant.has_value(); }
  const Tensor& constant(int v) const { return *graph_.value(v).constant; }

  bool declared_rank4(int v) const {
    const Value& value = graph_.value(v);
    return value.shape && value.shape->size() == 4;
  }

  int new_value(int like, const std::string& suffix) {
    const Value& v = graph_.value(like);
    const std::string name = v.name + suffix;
    const DType dtype = v.dtype;
    const int id = graph_.add_value(name, dtype);
    track_new_value();
    return id;
  }

  int add_constant(const std::string& name, Tensor t) {
    const int id = graph_.add_constant(name, std::move(t));
    track_new_value();
    return id;
  }

  // Per-value state for a value the pass added (available, no twin, no alias).
  void track_new_value() {
    twin_.push_back(kNoValue);
    available_.push_back(true);
    permuted_constant_.push_back(kNoValue);
    alias_.push_back(kNoValue);
  }

  void emit_transpose(const std::string& name, int from, int to, const Perm& perm) {
    Node t;
    t.op = OpKind::Transpose;
    t.name = name;
    t.source_op = "Transpose (layout pass)";
    t.inputs = {from};
    t.outputs = {to};
    t.attrs["perm"] = std::vector<int64_t>(perm.begin(), perm.end());
    graph_.nodes.push_back(std::move(t));
  }

  // The NHWC twin of `v`, made by a Transpose if there is none (v must be 4-D).
  int require_twin(int v) {
    if (has_twin(v)) return twin_[static_cast<size_t>(v)];
    require_nchw(v);
    const int twin = new_value(v, "/nhwc");
    emit_transpose(graph_.value(v).name + "/to_nhwc", v, twin, kNchwToNhwc);
    twin_[static_cast<size_t>(v)] = twin;
    return twin;
  }

  // Makes `v` itself available, by a Transpose of its twin if it only exists as one.
  void require_nchw(int v) {
    if (v == kNoValue || available_[static_cast<size_t>(v)]) return;
    emit_transpose(graph_.value(v).name + "/to_nchw", twin_[static_cast<size_t>(v)], v, kNhwcToNchw);
    available_[static_cast<size_t>(v)] = true;
  }

  // Output `v` of a converted node is computed as a new twin.
  int make_twin_output(int v) {
    if (v == kNoValue) return kNoValue;
    const int twin = new_value(v, "/nhwc");
    twin_[static_cast<size_t>(v)] = twin;
    available_[static_cast<size_t>(v)] = false;
    return twin;
  }

  // A broadcasting constant operand of rank <= 4, permuted as the 4-D
  // operand it broadcasts against: rank padded to 4, then dims permuted.
  std::optional<int> permuted_broadcast_constant(int v) {
    const Tensor& t = constant(v);
    if (t.element_count() <= 1) return v;  // a scalar broadcasts the same in any layout
    if (t.rank() > 4 || t.dtype() == DType::kString) return std::nullopt;
    int& cached = permuted_constant_[static_cast<size_t>(v)];
    if (cached != kNoValue) return cached;
    Shape padded(4 - t.shape().size(), 1);
    padded.insert(padded.end(), t.shape().begin(), t.shape().end());
    auto p = permuted(t.reshaped(padded), kNchwToNhwc);
    if (!p.is_ok()) return std::nullopt;
    const std::string name = graph_.value(v).name + "/nhwc";
    cached = add_constant(name, std::move(p).value());
    return cached;
  }

  // --- conversions --------------------------------------------------------------

  void emit_as_is(Node node) {
    for (int id : node.inputs) require_nchw(id);
    for (int id : node.outputs)
      if (id != kNoValue) available_[static_cast<size_t>(id)] = true;
    graph_.nodes.push_back(std::move(node));
  }

  // Emits `node` rewritten to read `inputs` and write twins of its outputs.
  void emit_on_twins(Node node, std::vector<int> inputs) {
    node.inputs = std::move(inputs);
    for (int& id : node.outputs) id = make_twin_output(id);
    graph_.nodes.push_back(std::move(node));
  }

  bool convert_anchor(Node& node) {
    OpKind nhwc_op;
    switch (node.op) {
      case OpKind::Conv:
      case OpKind::FusedConv: {
        const Tensor* w = node.inputs.size() > 1 ? passes::constant_f32(graph_, node.inputs[1]) : nullptr;
        if (!w || w->rank() != 4) return false;
        nhwc_op = OpKind::FusedConvNhwc;
        break;
      }
      case OpKind::ConvTranspose: {
        const Tensor* w = node.inputs.size() > 1 ? passes::constant_f32(graph_, node.inputs[1]) : nullptr;
        if (!w || w->rank() != 4 || node.attr_int("group", 1) != 1) return false;
        nhwc_op = OpKind::ConvTransposeNhwc;
        break;
      }
      case OpKind::MaxPool:
      case OpKind::AveragePool:
        if (node.attr_ints("kernel_shape").size() != 2 || node.has_output(1) || !has_twin(node.inputs[0]))
          return false;
        nhwc_op = node.op == OpKind::MaxPool ? OpKind::MaxPoolNhwc : OpKind::AveragePoolNhwc;
        break;
      default:
        return false;
    }
    std::vector<int> inputs = node.inputs;
    inputs[0] = require_twin(inputs[0]);
    if (nhwc_op == OpKind::FusedConvNhwc && node.has_input(3)) inputs[3] = require_twin(inputs[3]);
    for (size_t i = 1; i < inputs.size(); ++i)
      if (!(nhwc_op == OpKind::FusedConvNhwc && i == 3)) require_nchw(inputs[i]);
    node.op = nhwc_op;
    node.outputs.resize(1);
    emit_on_twins(std::move(node), std::move(inputs));
    return true;
  }

  // The inputs of a follower on twins, or nullopt when it must stay NCHW.
  // `data` tells which inputs are data tensors in the layout; the others must
  // be absent or constants, rewritten by the caller.
  std::optional<std::vector<int>> twin_inputs(const Node& node, const std::vector<bool>& data, bool broadcast) {
    bool any_twin = false;
    for (size_t i = 0; i < node.inputs.size(); ++i) any_twin |= data[i] && has_twin(node.inputs[i]);
    if (!any_twin) return std::nullopt;
    std::vector<int> inputs = node.inputs;
    // Check everything before creating anything.
    for (size_t i = 0; i < inputs.size(); ++i) {
      const int v = inputs[i];
      if (v == kNoValue || has_twin(v)) continue;
      if (!data[i]) {
        if (!is_constant(v)) return std::nullopt;
        continue;
      }
      if (is_constant(v)) {
        if (!broadcast && constant(v).rank() != 4) return std::nullopt;
        if (constant(v).rank() > 4) return std::nullopt;
      } else if (!available_[static_cast<size_t>(v)] || !declared_rank4(v)) {
        return std::nullopt;
      }
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      const int v = inputs[i];
      if (v == kNoValue || !data[i]) continue;
      if (has_twin(v)) {
        inputs[i] = twin_[static_cast<size_t>(v)];
      } else if (is_constant(v)) {
        auto p = permuted_broadcast_constant(v);
        if (!p) return std::nullopt;  // nothing emitted yet for this node
        inputs[i] = *p;
      } else {
        inputs[i] = require_twin(v);
      }
    }
    return inputs;
  }

  std::vector<bool> first_input_only(const Node& node) const {
    std::vector<bool> data(node.inputs.size(), false);
    if (!data.empty()) data[0] = true;
    return data;
  }

  bool convert_follower(Node& node) {
    const OpKind op = node.op;
    if (is_unary_elementwise(op)) {
      // Clip's bounds and the like are scalars: only input 0 is laid out.
      auto inputs = twin_inputs(node, first_input_only(node), false);
      if (!inputs || node.outputs.size() != 1) return false;
      emit_on_twins(std::move(node), std::move(*inputs));
      return true;
    }
    if (op == OpKind::Clip) {
      for (size_t i = 1; i < node.inputs.size(); ++i)
        if (node.has_input(i) && (!is_constant(node.inputs[i]) || constant(node.inputs[i]).element_count() != 1))
          return false;
      auto inputs = twin_inputs(node, first_input_only(node), false);
      if (!inputs) return false;
      emit_on_twins(std::move(node), std::move(*inputs));
      return true;
    }
    if (is_broadcasting(op)) {
      auto inputs = twin_inputs(node, std::vector<bool>(node.inputs.size(), true), true);
      if (!inputs) return false;
      emit_on_twins(std::move(node), std::move(*inputs));
      return true;
    }
    switch (op) {
      case OpKind::Concat: return convert_with_axis(node, std::vector<bool>(node.inputs.size(), true));
      case OpKind::Split: return convert_with_axis(node, first_input_only(node));
      case OpKind::Softmax:
      case OpKind::LogSoftmax:
      case OpKind::Hardmax:
        if (node.attr_int("coerce_2d", 0) != 0) return false;
        return convert_with_axis(node, first_input_only(node));
      case OpKind::Transpose: return convert_transpose(node);
      case OpKind::GlobalAveragePool:
      case OpKind::GlobalMaxPool: return convert_global_pool(node);
      case OpKind::Resize: return convert_resize(node);
      case OpKind::Pad: return convert_pad(node);
      case OpKind::Slice: return convert_slice(node);
      case OpKind::BatchNormalization: return convert_batch_norm(node);
      default:
        if (is_keepdims_reduce(op)) return convert_reduce(node);
        return false;
    }
  }

  bool convert_with_axis(Node& node, const std::vector<bool>& data) {
    const int64_t fallback = node.op == OpKind::Concat || node.op == OpKind::Split ? 0 : -1;
    if (node.op == OpKind::Concat && !node.has_attr("axis")) return false;
    const auto axis = nhwc_axis(node.attr_int("axis", fallback));
    if (!axis) return false;
    // Concat's constant inputs must be 4-D: twin_inputs checks that (broadcast = false).
    auto inputs = twin_inputs(node, data, false);
    if (!inputs) return false;
    node.attrs["axis"] = *axis;
    emit_on_twins(std::move(node), std::move(*inputs));
    return true;
  }

  // Transpose of a twin: one Transpose with composed permutations, whose
  // output is the NCHW-meaning value itself.
  bool convert_transpose(Node& node) {
    if (node.outputs.size() != 1 || node.inputs.size() != 1) return false;
    const int in = node.inputs[0], out = node.outputs[0];
    std::vector<int64_t> perm = node.attr_ints("perm");
    if (perm.empty()) perm = {3, 2, 1, 0};
    if (perm.size() != 4) return false;
    if (!has_twin(in)) {
      // NHWC -> NCHW of a channels-last value: that value is the output's twin.
      if (perm != std::vector<int64_t>(kNhwcToNchw.begin(), kNhwcToNchw.end()) || is_constant(in) ||
          !available_[static_cast<size_t>(in)] || passes::is_graph_output(graph_, out))
        return false;
      twin_[static_cast<size_t>(out)] = in;
      available_[static_cast<size_t>(out)] = false;
      return true;
    }
    for (int64_t& p : perm) {
      const auto axis = nhwc_axis(p);
      if (!axis || p < 0) return false;
      p = *axis;
    }
    const int twin = twin_[static_cast<size_t>(in)];
    available_[static_cast<size_t>(out)] = true;
    if (perm == std::vector<int64_t>{0, 1, 2, 3} && !passes::is_graph_output(graph_, out)) {
      alias_[static_cast<size_t>(out)] = twin;  // the permutations cancel: later readers read the twin
      return true;
    }
    node.attrs["perm"] = perm;
    node.inputs[0] = twin;
    graph_.nodes.push_back(std::move(node));
    return true;
  }

  // A constant int64 axes input remapped to NHWC; nullopt if absent or not constant.
  std::optional<int> remapped_axes(const Node& node, size_t index) {
    if (!node.has_input(index) || !is_constant(node.inputs[index])) return std::nullopt;
    const Tensor& t = constant(node.inputs[index]);
    if (!dtype_is_integer(t.dtype())) return std::nullopt;
    std::vector<int64_t> axes = tensor_to_int64s(t);
    for (int64_t& a : axes) {
      const auto axis = nhwc_axis(a);
      if (!axis) return std::nullopt;
      a = *axis;
    }
    return add_constant(graph_.value(node.inputs[index]).name + "/nhwc", int64_tensor(axes));
  }

  bool convert_reduce(Node& node) {
    if (node.attr_int("keepdims", 1) == 0 || node.outputs.size() != 1) return false;
    std::optional<int> axes;
    if (node.has_input(1)) {
      if (!is_constant(node.inputs[1])) return false;
      if (constant(node.inputs[1]).element_count() > 0) {
        axes = remapped_axes(node, 1);
        if (!axes) return false;
      }
    }
    auto inputs = twin_inputs(node, first_input_only(node), false);
    if (!inputs) return false;
    if (axes) (*inputs)[1] = *axes;
    emit_on_twins(std::move(node), std::move(*inputs));
    return true;
  }

  bool convert_global_pool(Node& node) {
    if (!has_twin(node.inputs[0]) || node.outputs.size() != 1) return false;
    const int axes = add_constant(graph_.value(node.outputs[0]).name + "/axes", int64_tensor({1, 2}));
    const int x = twin_[static_cast<size_t>(node.inputs[0])];
    node.source_op = node.source_op + " as Reduce (layout pass)";
    node.op = node.op == OpKind::GlobalAveragePool ? OpKind::ReduceMean : OpKind::ReduceMax;
    node.attrs.clear();
    node.attrs["keepdims"] = int64_t{1};
    emit_on_twins(std::move(node), {x, axes});
    return true;
  }

  // Resize: the roi, scales and sizes constants permuted (or, with `axes`, the axes remapped).
  bool convert_resize(Node& node) {
    if (!has_twin(node.inputs[0]) || node.outputs.size() != 1) return false;
    for (size_t i = 1; i < node.inputs.size(); ++i)
      if (node.has_input(i) && !is_constant(node.inputs[i])) return false;
    std::vector<int> inputs = node.inputs;
    if (node.has_attr("axes")) {
      std::vector<int64_t> axes = node.attr_ints("axes");
      for (int64_t& a : axes) {
        const auto axis = nhwc_axis(a);
        if (!axis) return false;
        a = *axis;
      }
      node.attrs["axes"] = axes;
    } else {
      for (size_t i = 1; i < inputs.size(); ++i) {
        if (!node.has_input(i) || constant(inputs[i]).element_count() == 0) continue;
        const Tensor& t = constant(inputs[i]);
        const int64_t count = t.element_count();
        const int64_t groups = i == 1 ? 2 : 1;  // roi: starts, then ends
        if (t.rank() != 1 || count != 4 * groups) return false;
        auto allocated = Tensor::allocate_uninitialized(t.dtype(), t.shape());
        if (!allocated.is_ok()) return false;
        Tensor out = std::move(allocated).value();
        const auto* src = static_cast<const std::byte*>(t.raw_data());
        auto* dst = static_cast<std::byte*>(out.raw_data());
        const size_t elem = dtype_size(t.dtype());
        for (int64_t g = 0; g < groups; ++g)
          for (size_t d = 0; d < 4; ++d)
            std::copy_n(src + (static_cast<size_t>(g) * 4 + static_cast<size_t>(kNchwToNhwc[d])) * elem, elem,
                        dst + (static_cast<size_t>(g) * 4 + d) * elem);
        inputs[i] = add_constant(graph_.value(inputs[i]).name + "/nhwc", std::move(out));
      }
    }
    inputs[0] = twin_[static_cast<size_t>(inputs[0])];
    emit_on_twins(std::move(node), std::move(inputs));
    return true;
  }

  // Pad: constant pads [x1_begin..x4_begin, x1_end..x4_end] permuted; no `axes` input.
  bool convert_pad(Node& node) {
    if (!has_twin(node.inputs[0]) || node.has_input(3) || !node.has_input(1) || !is_constant(node.inputs[1]))
      return false;
    if (node.has_input(2) && !is_constant(node.inputs[2])) return false;
    const Tensor& pads = constant(node.inputs[1]);
    if (!dtype_is_integer(pads.dtype()) || pads.element_count() != 8) return false;
    const std::vector<int64_t> old = tensor_to_int64s(pads);
    std::vector<int64_t> pads_nhwc(8);
    for (size_t d = 0; d < 4; ++d) {
      pads_nhwc[d] = old[static_cast<size_t>(kNchwToNhwc[d])];
      pads_nhwc[4 + d] = old[4 + static_cast<size_t>(kNchwToNhwc[d])];
    }
    std::vector<int> inputs = node.inputs;
    inputs[0] = twin_[static_cast<size_t>(inputs[0])];
    inputs[1] = add_constant(graph_.value(node.inputs[1]).name + "/nhwc", int64_tensor(pads_nhwc));
    emit_on_twins(std::move(node), std::move(inputs));
    return true;
  }

  // Slice: the axes (constant, or absent: 0..len(starts)-1) remapped.
  bool convert_slice(Node& node) {
    if (!has_twin(node.inputs[0]) || node.outputs.size() != 1) return false;
    std::vector<int64_t> axes;
    if (node.has_input(3)) {
      if (!is_constant(node.inputs[3])) return false;
      axes = tensor_to_int64s(constant(node.inputs[3]));
    } else {
      if (!node.has_input(1) || !is_constant(node.inputs[1])) return false;
      for (int64_t a = 0; a < constant(node.inputs[1]).element_count(); ++a) axes.push_back(a);
    }
    for (int64_t& a : axes) {
      const auto axis = nhwc_axis(a);
      if (!axis) return false;
      a = *axis;
    }
    std::vector<int> inputs = node.inputs;
    inputs.resize(std::max<size_t>(inputs.size(), 4), kNoValue);
    inputs[0] = twin_[static_cast<size_t>(inputs[0])];
    inputs[3] = add_constant(graph_.value(node.outputs[0]).name + "/axes_nhwc", int64_tensor(axes));
    emit_on_twins(std::move(node), std::move(inputs));
    return true;
  }

  // Inference BatchNormalization with constant float32 parameters: Mul by
  // scale / sqrt(var + eps) and Add of B - mean * that, per channel (the last
  // axis in NHWC).
  bool convert_batch_norm(Node& node) {
    if (!has_twin(node.inputs[0]) || node.outputs.size() != 1 || node.inputs.size() != 5 ||
        node.attr_int("training_mode", 0) != 0)
      return false;
    const Tensor* p[4];
    for (size_t i = 0; i < 4; ++i) {
      p[i] = passes::constant_f32(graph_, node.inputs[i + 1]);
      if (!p[i] || p[i]->rank() != 1 || p[i]->element_count() != p[0]->element_count()) return false;
    }
    const int64_t channels = p[0]->element_count();
    const float eps = node.attr_float("epsilon", 1e-5f);
    std::vector<float> scale(static_cast<size_t>(channels)), shift(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
      const float s = p[0]->data<float>()[c] / std::sqrt(p[3]->data<float>()[c] + eps);
      scale[static_cast<size_t>(c)] = s;
      shift[static_cast<size_t>(c)] = p[1]->data<float>()[c] - p[2]->data<float>()[c] * s;
    }
    const std::string base = node.name.empty() ? graph_.value(node.outputs[0]).name : node.name;
    const int scale_id = add_constant(base + "/scale", Tensor::from_vector(Shape{channels}, scale).value());
    const int shift_id = add_constant(base + "/shift", Tensor::from_vector(Shape{channels}, shift).value());
    const int out = node.outputs[0];
    const int scaled = new_value(out, "/scaled_nhwc");
    Node mul;
    mul.op = OpKind::Mul;
    mul.name = base + "/scale";
    mul.source_op = node.source_op + " as Mul (layout pass)";
    mul.inputs = {twin_[static_cast<size_t>(node.inputs[0])], scale_id};
    mul.outputs = {scaled};
    graph_.nodes.push_back(std::move(mul));
    Node add;
    add.op = OpKind::Add;
    add.name = base + "/shift";
    add.source_op = node.source_op + " as Add (layout pass)";
    add.outputs = {out};
    emit_on_twins(std::move(add), {scaled, shift_id});
    return true;
  }

  Graph& graph_;
  std::vector<int> twin_;               // per value: its NHWC twin, or kNoValue
  std::vector<bool> available_;         // per value: computed (or input, constant) in its own layout
  std::vector<int> permuted_constant_;  // per constant: its permuted copy, or kNoValue
  std::vector<int> alias_;              // per value: the value that holds the same tensor, or kNoValue
  int converted_ = 0;
};

}  // namespace

int choose_channels_last(Graph& graph) { return LayoutChooser(graph).run(); }

}  // namespace iskra
