// TFLite builtin (and MediaPipe custom) operators → IR nodes.
//
// TFLite tensors are channels-last ([N, H, W, C]) and keep their meaning here:
// the IR values are the file's tensors. Convolutions and pools, whose IR ops
// are NCHW (ONNX semantics), are emitted between a Transpose to NCHW and one
// back; the layout pass turns them into their NHWC forms and cancels the
// transposes. Everything else is emitted on the channels-last values with
// TFLite's axes. Fused activations become an activation node after the op
// (before the Transpose back, so the first epilogue pass fuses it). Weights
// are permuted at load from TFLite's [O, kh, kw, I] to the IR's [O, I, kh, kw].
#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "base/half.h"
#include "base/str_cat.h"
#include "import/tflite/tflite_builder.h"
#include "kernels/layout.h"

namespace iskra::tflite {

namespace {

using schema::ActivationFunctionType;
using schema::BuiltinOperator;
using schema::Padding;

constexpr std::array<int, 4> kOhwiToOihw = {0, 3, 1, 2};  // conv filters [O, kh, kw, I]
constexpr std::array<int, 4> kOhwiToIohw = {3, 0, 1, 2};  // transposed-conv filters, to ConvTranspose's [I, O, kh, kw]

std::vector<int64_t> to_i64(const Tensor& t) { return tensor_to_int64s(t); }

class Converter {
 public:
  Converter(const OpToConvert& op, GraphEmitter& g) : op_(op), g_(g) {}

  Status run();

 private:
  // --- inputs and outputs -------------------------------------------------------------------------
  Result<int> input(size_t i) const {
    if (i >= op_.inputs.size() || op_.inputs[i] == kNoValue) return invalid_model("input ", i, " is missing");
    return op_.inputs[i];
  }
  int optional_input(size_t i) const { return i < op_.inputs.size() ? op_.inputs[i] : kNoValue; }
  int output(size_t i = 0) const { return op_.outputs.at(i); }
  Status expect_io(size_t min_inputs, size_t max_inputs, size_t outputs) const {
    if (op_.inputs.size() < min_inputs || op_.inputs.size() > max_inputs)
      return invalid_model("has ", op_.inputs.size(), " inputs, expected ", min_inputs,
                           min_inputs == max_inputs ? "" : str_cat(" to ", max_inputs));
    if (op_.outputs.size() != outputs) return invalid_model("has ", op_.outputs.size(), " outputs, expected ", outputs);
    return Status::ok();
  }
  Result<const Tensor*> constant_input(size_t i, const char* what) const {
    ISKRA_ASSIGN_OR_RETURN(int v, input(i));
    const Tensor* t = g_.constant(v);
    if (!t) return unsupported(what, " (input ", i, ") must be a constant");
    return t;
  }
  Result<Shape> static_shape(int v, const char* what) const {
    auto s = g_.static_shape(v);
    if (!s) return unsupported(what, " must have a static shape");
    return *s;
  }
  DType dtype_of(int v) const { return g_.value(v).dtype; }

  int temp(const std::string& suffix, DType dtype = DType::kF32) { return g_.new_value(op_.name + suffix, dtype); }
  Node& emit(OpKind op, std::vector<int> in, std::vector<int> out) { return g_.emit(op, op_, std::move(in), std::move(out)); }

  // --- pieces ------------------------------------------------------------------------------------
  int transpose(int v, std::span<const int> perm, const std::string& suffix) {
    const int out = temp(suffix, dtype_of(v));
    emit(OpKind::Transpose, {v}, {out}).attrs["perm"] = std::vector<int64_t>(perm.begin(), perm.end());
    return out;
  }

  // The value the op itself should write so that `act` can follow it into `final_out`.
  int pre_activation(ActivationFunctionType act, int final_out, const std::string& suffix) {
    return act == ActivationFunctionType::NONE ? final_out : temp(suffix, dtype_of(final_out));
  }
  Status activation(ActivationFunctionType act, int in, int out) {
    switch (act) {
      case ActivationFunctionType::NONE: return Status::ok();
      case ActivationFunctionType::RELU: emit(OpKind::Relu, {in}, {out}); return Status::ok();
      case ActivationFunctionType::RELU6: return clip(in, out, 0.0f, 6.0f);
      case ActivationFunctionType::RELU_N1_TO_1: return clip(in, out, -1.0f, 1.0f);
      case ActivationFunctionType::TANH: emit(OpKind::Tanh, {in}, {out}); return Status::ok();
      default: break;
    }
    return unsupported("fused activation ", schema::EnumNameActivationFunctionType(act), " is not supported");
  }
  Status clip(int in, int out, float lo, float hi) {
    emit(OpKind::Clip, {in, g_.constant_f32(op_.name + "/min", lo), g_.constant_f32(op_.name + "/max", hi)}, {out});
    return Status::ok();
  }
  // op(in...) → out, then the fused activation.
  Status with_activation(OpKind op, std::vector<int> in, ActivationFunctionType act) {
    const int y = pre_activation(act, output(), "/pre_activation");
    emit(op, std::move(in), {y});
    return activation(act, y, output());
  }

  // A constant filter permuted from TFLite's layout (fp32, or any dtype: permuted as bytes).
  Result<int> permuted_filter(size_t i, std::span<const int> perm) {
    ISKRA_ASSIGN_OR_RETURN(const Tensor* w, constant_input(i, "the filter"));
    if (w->rank() != 4) return invalid_model("the filter has rank ", w->rank(), ", expected 4");
    ISKRA_ASSIGN_OR_RETURN(Tensor p, permuted(*w, perm));
    return g_.add_constant(g_.value(op_.inputs[i]).name + "/oihw", std::move(p));
  }

  // An NCHW op between transposes: x (NHWC) → op(x_nchw, extra...) → [act] → y (NHWC).
  Node& emit_nchw(OpKind op, int x, std::vector<int> extra, ActivationFunctionType act, Status& status) {
    const int x_nchw = transpose(x, kNhwcToNchw, "/input_nchw");
    const int y_nchw = temp("/nchw", dtype_of(output()));
    const int y_op = pre_activation(act, y_nchw, "/nchw_pre_activation");
    std::vector<int> in = {x_nchw};
    in.insert(in.end(), extra.begin(), extra.end());
    emit(op, std::move(in), {y_op});
    const size_t node_index = g_.graph().nodes.size() - 1;
    status = activation(act, y_op, y_nchw);
    emit(OpKind::Transpose, {y_nchw}, {output()}).attrs["perm"] = std::vector<int64_t>(kNchwToNhwc.begin(), kNchwToNhwc.end());
    return g_.graph().nodes[node_index];  // by index: the node list has grown since
  }

  // The NCHW Conv of CONV_2D or DEPTHWISE_CONV_2D (their options have the same field names) on x
  // with the permuted filter w ([O, I/g, kh, kw]) and the optional bias, input 2.
  template <class Options>
  Status emit_conv(int x, int w, const Shape& w_shape, const Options& o, int64_t group) {
    ISKRA_ASSIGN_OR_RETURN(std::string pad, auto_pad(o.padding()));
    std::vector<int> extra = {w};
    if (optional_input(2) != kNoValue) extra.push_back(optional_input(2));
    Status status;
    Node& conv = emit_nchw(OpKind::Conv, x, extra, o.fused_activation_function(), status);
    conv.attrs["strides"] = std::vector<int64_t>{o.stride_h(), o.stride_w()};
    conv.attrs["dilations"] = std::vector<int64_t>{o.dilation_h_factor(), o.dilation_w_factor()};
    conv.attrs["kernel_shape"] = std::vector<int64_t>{w_shape[2], w_shape[3]};
    conv.attrs["auto_pad"] = pad;
    conv.attrs["group"] = group;
    return status;
  }

  static Result<std::string> auto_pad(Padding padding) {
    switch (padding) {
      case Padding::SAME: return std::string("SAME_UPPER");  // TFLite puts the odd row/column at the end
      case Padding::VALID: return std::string("VALID");
      default: break;
    }
    return invalid_model("unknown padding ", static_cast<int>(padding));
  }

  // --- ops ----------------------------------------------------------------------------------------
  Status unary(OpKind op) {
    ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
    ISKRA_ASSIGN_OR_RETURN(int x, input(0));
    emit(op, {x}, {output()});
    return Status::ok();
  }
  Status conv2d();
  Status depthwise_conv2d();
  Status transpose_conv(int x, size_t filter_input, int bias, Padding padding, int stride_h, int stride_w,
                        ActivationFunctionType act);
  Status pool2d(OpKind op);
  Status binary(OpKind op);
  Status concatenation();
  Status reshape();
  Status pad();
  Status mean();
  Status resize(bool bilinear);
  Status fully_connected();
  Status depth_to_space();
  Status softmax();
  Status dequantize();
  Status strided_slice();
  Status slice();
  Status split();
  Status pack();
  Status unpack();
  Status batch_matmul();
  Status arg_max();
  // The constant input `i` as int64 values, with its element count checked.
  Result<std::vector<int64_t>> constant_ints(size_t i, const char* what, size_t count) const;
  // Axis `axis` of a value of rank `rank`, negative ones counted from the end.
  Result<int64_t> resolved_axis(int64_t axis, size_t rank) const;

  const OpToConvert& op_;
  GraphEmitter& g_;
};

Status Converter::conv2d() {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 3, 1));
  const auto* o = op_.op->builtin_options_as_Conv2DOptions();
  if (!o) return invalid_model("has no Conv2DOptions");
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(int w, permuted_filter(1, kOhwiToOihw));
  ISKRA_ASSIGN_OR_RETURN(Shape x_shape, static_shape(x, "the input"));
  const Shape w_shape = g_.constant(w)->shape();  // a copy: emitting grows the value list
  if (x_shape.size() != 4) return invalid_model("the input has rank ", x_shape.size(), ", expected 4");
  if (w_shape[1] <= 0 || x_shape[3] <= 0 || x_shape[3] % w_shape[1] != 0 || w_shape[0] % (x_shape[3] / w_shape[1]) != 0)
    return invalid_model("the filter's ", w_shape[1], " input channels do not divide the input's ", x_shape[3]);
  return emit_conv(x, w, w_shape, *o, x_shape[3] / w_shape[1]);
}

Status Converter::depthwise_conv2d() {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 3, 1));
  const auto* o = op_.op->builtin_options_as_DepthwiseConv2DOptions();
  if (!o) return invalid_model("has no DepthwiseConv2DOptions");
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(Shape x_shape, static_shape(x, "the input"));
  // Filter [1, kh, kw, C * multiplier] → [C * multiplier, 1, kh, kw], one group per input channel.
  ISKRA_ASSIGN_OR_RETURN(int w, permuted_filter(1, kOhwiToIohw));
  const Shape w_shape = g_.constant(w)->shape();  // a copy: emitting grows the value list
  if (x_shape.size() != 4) return invalid_model("the input has rank ", x_shape.size(), ", expected 4");
  if (w_shape[1] != 1 || x_shape[3] == 0 || w_shape[0] % x_shape[3] != 0)
    return invalid_model("a depthwise filter of ", w_shape[0], " channels for an input of ", x_shape[3]);
  return emit_conv(x, w, w_shape, *o, x_shape[3]);
}

// Transposed convolution with TFLite's output size (the output tensor's shape):
// the padding is what makes ConvTranspose produce exactly that size, the odd
// row/column at the end as TFLite does.
Status Converter::transpose_conv(int x, size_t filter_input, int bias, Padding padding, int stride_h, int stride_w,
                                 ActivationFunctionType act) {
  ISKRA_ASSIGN_OR_RETURN(Shape x_shape, static_shape(x, "the input"));
  ISKRA_ASSIGN_OR_RETURN(Shape y_shape, static_shape(output(), "the output"));
  ISKRA_ASSIGN_OR_RETURN(int w, permuted_filter(filter_input, kOhwiToIohw));
  const Shape w_shape = g_.constant(w)->shape();  // a copy: emitting grows the value list  // [I, O, kh, kw]
  if (x_shape.size() != 4 || y_shape.size() != 4) return invalid_model("input and output must be 4-D");
  if (w_shape[0] != x_shape[3] || w_shape[1] != y_shape[3])
    return invalid_model("filter ", shape_to_string(w_shape), " does not fit input ", shape_to_string(x_shape),
                         " and output ", shape_to_string(y_shape));
  if (stride_h <= 0 || stride_w <= 0) return invalid_model("strides must be positive");
  if (padding != Padding::SAME && padding != Padding::VALID) return invalid_model("unknown padding");
  std::vector<int64_t> pads(4, 0), output_padding(2, 0);
  const int64_t strides[2] = {stride_h, stride_w};
  for (int d = 0; d < 2; ++d) {
    const int64_t in = x_shape[static_cast<size_t>(1 + d)], out = y_shape[static_cast<size_t>(1 + d)];
    const int64_t k = w_shape[static_cast<size_t>(2 + d)];
    const int64_t total = (in - 1) * strides[d] + k - out;
    if (total >= 0) {
      pads[static_cast<size_t>(d)] = total / 2;
      pads[static_cast<size_t>(2 + d)] = total - total / 2;
    } else {
      output_padding[static_cast<size_t>(d)] = -total;
    }
  }
  Status status;
  std::vector<int> extra = {w};
  if (bias != kNoValue) extra.push_back(bias);
  Node& node = emit_nchw(OpKind::ConvTranspose, x, extra, act, status);
  node.attrs["strides"] = std::vector<int64_t>{stride_h, stride_w};
  node.attrs["kernel_shape"] = std::vector<int64_t>{w_shape[2], w_shape[3]};
  node.attrs["pads"] = pads;
  if (output_padding[0] || output_padding[1]) node.attrs["output_padding"] = output_padding;
  return status;
}

Status Converter::pool2d(OpKind op) {
  ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
  const auto* o = op_.op->builtin_options_as_Pool2DOptions();
  if (!o) return invalid_model("has no Pool2DOptions");
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(std::string pad, auto_pad(o->padding()));
  Status status;
  Node& pool = emit_nchw(op, x, {}, o->fused_activation_function(), status);
  pool.attrs["kernel_shape"] = std::vector<int64_t>{o->filter_height(), o->filter_width()};
  pool.attrs["strides"] = std::vector<int64_t>{o->stride_h(), o->stride_w()};
  pool.attrs["auto_pad"] = pad;  // AveragePool: padding is not counted (count_include_pad 0), as in TFLite
  return status;
}

Status Converter::binary(OpKind op) {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 2, 1));
  ActivationFunctionType act = ActivationFunctionType::NONE;
  if (const auto* o = op_.op->builtin_options_as_AddOptions()) act = o->fused_activation_function();
  if (const auto* o = op_.op->builtin_options_as_SubOptions()) act = o->fused_activation_function();
  if (const auto* o = op_.op->builtin_options_as_MulOptions()) act = o->fused_activation_function();
  if (const auto* o = op_.op->builtin_options_as_DivOptions()) act = o->fused_activation_function();
  ISKRA_ASSIGN_OR_RETURN(int a, input(0));
  ISKRA_ASSIGN_OR_RETURN(int b, input(1));
  return with_activation(op, {a, b}, act);
}

Status Converter::concatenation() {
  if (op_.inputs.empty() || op_.outputs.size() != 1) return invalid_model("needs inputs and one output");
  const auto* o = op_.op->builtin_options_as_ConcatenationOptions();
  if (!o) return invalid_model("has no ConcatenationOptions");
  for (size_t i = 0; i < op_.inputs.size(); ++i) ISKRA_RETURN_IF_ERROR(input(i).status());
  const int y = pre_activation(o->fused_activation_function(), output(), "/pre_activation");
  emit(OpKind::Concat, op_.inputs, {y}).attrs["axis"] = int64_t{o->axis()};
  return activation(o->fused_activation_function(), y, output());
}

// The new shape: input 1 when present, else the options, else the output tensor's shape.
Status Converter::reshape() {
  ISKRA_RETURN_IF_ERROR(expect_io(1, 2, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  std::vector<int64_t> shape;
  if (optional_input(1) != kNoValue) {
    const Tensor* s = g_.constant(optional_input(1));
    if (!s) {  // computed at run time
      const int s64 = temp("/shape_i64", DType::kI64);
      emit(OpKind::Cast, {optional_input(1)}, {s64}).attrs["to"] = int64_t{static_cast<int64_t>(DType::kI64)};
      emit(OpKind::Reshape, {x, s64}, {output()}).attrs["allowzero"] = int64_t{1};
      return Status::ok();
    }
    shape = to_i64(*s);
  } else if (const auto* o = op_.op->builtin_options_as_ReshapeOptions(); o && o->new_shape()) {
    for (int32_t d : *o->new_shape()) shape.push_back(d);
  } else {
    ISKRA_ASSIGN_OR_RETURN(Shape s, static_shape(output(), "the output"));
    shape = s;
  }
  // TFLite's 0 is a dimension of size 0, not ONNX's "copy": allowzero.
  emit(OpKind::Reshape, {x, g_.constant_i64(op_.name + "/shape", shape)}, {output()}).attrs["allowzero"] = int64_t{1};
  return Status::ok();
}

// PAD / PADV2 / MIRROR_PAD: paddings [rank, 2] → ONNX pads [begins..., ends...].
Status Converter::pad() {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 3, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(const Tensor* paddings, constant_input(1, "the paddings"));
  if (paddings->rank() != 2 || paddings->dim(1) != 2 || !dtype_is_integer(paddings->dtype()))
    return invalid_model("the paddings must be an integer [rank, 2] tensor, not ", paddings->describe());
  const std::vector<int64_t> p = to_i64(*paddings);
  const size_t rank = static_cast<size_t>(paddings->dim(0));
  std::vector<int64_t> pads(2 * rank);
  for (size_t d = 0; d < rank; ++d) {
    pads[d] = p[2 * d];
    pads[rank + d] = p[2 * d + 1];
  }
  std::vector<int> in = {x, g_.constant_i64(op_.name + "/pads", pads)};
  if (optional_input(2) != kNoValue) in.push_back(optional_input(2));
  Node& node = emit(OpKind::Pad, std::move(in), {output()});
  if (op_.code == BuiltinOperator::MIRROR_PAD) {
    const auto* o = op_.op->builtin_options_as_MirrorPadOptions();
    if (o && o->mode() == schema::MirrorPadMode::SYMMETRIC) return unsupported("SYMMETRIC mirror padding is not supported");
    node.attrs["mode"] = std::string("reflect");
  }
  return Status::ok();
}

Status Converter::mean() {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 2, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(const Tensor* axes, constant_input(1, "the axes"));
  const auto* o = op_.op->builtin_options_as_ReducerOptions();
  OpKind op = OpKind::ReduceMean;
  switch (op_.code) {
    case BuiltinOperator::SUM: op = OpKind::ReduceSum; break;
    case BuiltinOperator::REDUCE_MAX: op = OpKind::ReduceMax; break;
    case BuiltinOperator::REDUCE_MIN: op = OpKind::ReduceMin; break;
    case BuiltinOperator::REDUCE_PROD: op = OpKind::ReduceProd; break;
    default: break;
  }
  Node& node = emit(op, {x, g_.constant_i64(op_.name + "/axes", to_i64(*axes))}, {output()});
  node.attrs["keepdims"] = int64_t{o && o->keep_dims() ? 1 : 0};
  return Status::ok();
}

// RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR on [N, H, W, C]: ONNX Resize over axes 1 and 2.
Status Converter::resize(bool bilinear) {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 2, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(const Tensor* size, constant_input(1, "the size"));
  if (size->element_count() != 2) return invalid_model("the size must hold 2 values, not ", size->describe());
  bool align_corners = false, half_pixel = false;
  if (bilinear) {
    if (const auto* o = op_.op->builtin_options_as_ResizeBilinearOptions()) {
      align_corners = o->align_corners();
      half_pixel = o->half_pixel_centers();
    }
  } else if (const auto* o = op_.op->builtin_options_as_ResizeNearestNeighborOptions()) {
    align_corners = o->align_corners();
    half_pixel = o->half_pixel_centers();
  }
  if (align_corners && half_pixel) return invalid_model("align_corners and half_pixel_centers are both set");
  // Sizes of all four dims when the input's shape is static (the fast kernel's case), else over axes 1, 2.
  std::vector<int64_t> sizes = to_i64(*size);
  const std::optional<Shape> x_shape = g_.static_shape(x);
  const bool full = x_shape && x_shape->size() == 4;
  if (full) sizes = {(*x_shape)[0], sizes[0], sizes[1], (*x_shape)[3]};
  Node& node = emit(OpKind::Resize, {x, kNoValue, kNoValue, g_.constant_i64(op_.name + "/sizes", sizes)}, {output()});
  if (!full) node.attrs["axes"] = std::vector<int64_t>{1, 2};
  if (bilinear) {
    node.attrs["mode"] = std::string("linear");
    node.attrs["coordinate_transformation_mode"] =
        std::string(align_corners ? "align_corners" : half_pixel ? "half_pixel" : "asymmetric");
  } else {
    // TFLite: floor((x + 0.5) * scale) with half-pixel centers, round(x * scale)
    // with aligned corners, floor(x * scale) otherwise.
    node.attrs["mode"] = std::string("nearest");
    node.attrs["coordinate_transformation_mode"] =
        std::string(align_corners ? "align_corners" : half_pixel ? "tf_half_pixel_for_nn" : "asymmetric");
    node.attrs["nearest_mode"] = std::string(align_corners ? "round_prefer_ceil" : "floor");
  }
  return Status::ok();
}

// FULLY_CONNECTED: y = x · Wᵀ + b over the last axis of x (flattened to 2-D), weights [out, in].
Status Converter::fully_connected() {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 3, 1));
  const auto* o = op_.op->builtin_options_as_FullyConnectedOptions();
  if (o && o->weights_format() != schema::FullyConnectedOptionsWeightsFormat::DEFAULT)
    return unsupported("shuffled weights formats are not supported");
  const ActivationFunctionType act = o ? o->fused_activation_function() : ActivationFunctionType::NONE;
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(int w, input(1));
  ISKRA_ASSIGN_OR_RETURN(Shape w_shape, static_shape(w, "the weights"));
  ISKRA_ASSIGN_OR_RETURN(Shape y_shape, static_shape(output(), "the output"));
  if (w_shape.size() != 2) return invalid_model("the weights must be 2-D, not ", shape_to_string(w_shape));
  const int x2 = temp("/input_2d", dtype_of(x));
  emit(OpKind::Reshape, {x, g_.constant_i64(op_.name + "/input_shape", {-1, w_shape[1]})}, {x2});
  const bool reshape_out = y_shape.size() != 2;
  const int y_final = reshape_out ? temp("/output_2d") : output();
  const int y = pre_activation(act, y_final, "/pre_activation");
  std::vector<int> in = {x2, w};
  if (optional_input(2) != kNoValue) in.push_back(optional_input(2));
  emit(OpKind::Gemm, std::move(in), {y}).attrs["transB"] = int64_t{1};
  ISKRA_RETURN_IF_ERROR(activation(act, y, y_final));
  if (reshape_out) emit(OpKind::Reshape, {y_final, g_.constant_i64(op_.name + "/output_shape", y_shape)}, {output()});
  return Status::ok();
}

// DEPTH_TO_SPACE on [N, H, W, C]: out[n, h*b + i, w*b + j, c] = in[n, h, w, (i*b + j)*C' + c],
// as Reshape [N, H, W, b, b, C'] → Transpose (0, 1, 3, 2, 4, 5) → Reshape [N, H*b, W*b, C'].
Status Converter::depth_to_space() {
  ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
  const auto* o = op_.op->builtin_options_as_DepthToSpaceOptions();
  if (!o || o->block_size() <= 0) return invalid_model("needs a positive block_size");
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(Shape s, static_shape(x, "the input"));
  const int64_t b = o->block_size();
  if (s.size() != 4 || s[3] % (b * b) != 0)
    return invalid_model("input ", shape_to_string(s), " does not split into blocks of ", b, "x", b);
  const int64_t c = s[3] / (b * b);
  const int blocks = temp("/blocks", dtype_of(x));
  emit(OpKind::Reshape, {x, g_.constant_i64(op_.name + "/blocks_shape", {s[0], s[1], s[2], b, b, c})}, {blocks});
  const int moved = temp("/moved", dtype_of(x));
  emit(OpKind::Transpose, {blocks}, {moved}).attrs["perm"] = std::vector<int64_t>{0, 1, 3, 2, 4, 5};
  emit(OpKind::Reshape, {moved, g_.constant_i64(op_.name + "/shape", {s[0], s[1] * b, s[2] * b, c})}, {output()});
  return Status::ok();
}

Status Converter::softmax() {
  ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  const auto* o = op_.op->builtin_options_as_SoftmaxOptions();
  int in = x;
  if (o && o->beta() != 1.0f) {
    in = temp("/scaled");
    emit(OpKind::Mul, {x, g_.constant_f32(op_.name + "/beta", o->beta())}, {in});
  }
  emit(OpKind::Softmax, {in}, {output()}).attrs["axis"] = int64_t{-1};
  return Status::ok();
}

// DEQUANTIZE of a constant (fp16 weights, int8 weights)
// is done now: the output tensor becomes a float32 constant.
Status Converter::dequantize() {
  ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  const Tensor* t = g_.constant(x);
  if (!t) return unsupported("DEQUANTIZE of a value computed at run time");  // tflite_quantized.cc converts those
  ISKRA_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate_uninitialized(DType::kF32, t->shape()));
  if (t->dtype() == DType::kF16) {
    float* dst = out.data<float>();
    const int64_t count = t->element_count();
    const auto* src = t->data<uint16_t>();
    for (int64_t i = 0; i < count; ++i) dst[i] = Float16::to_float(src[i]);
  } else if (t->dtype() == DType::kI8 || t->dtype() == DType::kU8 || t->dtype() == DType::kI16) {
    ISKRA_ASSIGN_OR_RETURN(out, dequantized_constant(*t, op_.input_tensors[0]));
  } else {
    return unsupported("DEQUANTIZE of ", dtype_name(t->dtype()), " is not supported");
  }
  g_.bind_tensor(op_.output_tensor_ids[0], g_.add_constant(g_.value(output()).name, std::move(out)));
  return Status::ok();
}

Result<std::vector<int64_t>> Converter::constant_ints(size_t i, const char* what, size_t count) const {
  ISKRA_ASSIGN_OR_RETURN(const Tensor* t, constant_input(i, what));
  if (!dtype_is_integer(t->dtype()) || t->rank() > 1 || static_cast<size_t>(t->element_count()) != count)
    return invalid_model(what, " must be ", count, " integers, not ", t->describe());
  return to_i64(*t);
}

Result<int64_t> Converter::resolved_axis(int64_t axis, size_t rank) const {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) return invalid_model("axis ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + r : axis;
}

// STRIDED_SLICE: per axis begin, end and stride with TFLite's masks → one Slice over every axis
// (then a Reshape that drops the axes of shrink_axis_mask).
Status Converter::strided_slice() {
  ISKRA_RETURN_IF_ERROR(expect_io(4, 4, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(Shape x_shape, static_shape(x, "the input"));
  const size_t rank = x_shape.size();
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> begin, constant_ints(1, "the begin", rank));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> end, constant_ints(2, "the end", rank));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> strides, constant_ints(3, "the strides", rank));
  const auto* o = op_.op->builtin_options_as_StridedSliceOptions();
  const int32_t begin_mask = o ? o->begin_mask() : 0, end_mask = o ? o->end_mask() : 0;
  const int32_t shrink_mask = o ? o->shrink_axis_mask() : 0;
  if (o && (o->ellipsis_mask() != 0 || o->new_axis_mask() != 0))
    return unsupported("STRIDED_SLICE with an ellipsis_mask or new_axis_mask is not supported");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> starts(rank), ends(rank), steps(rank), axes(rank);
  for (size_t d = 0; d < rank; ++d) {
    const bool shrink = (shrink_mask >> d) & 1;
    int64_t step = strides[d], b = begin[d], e = o && o->offset() ? begin[d] + end[d] : end[d];
    if (step == 0) return invalid_model("stride ", d, " is 0");
    if (shrink) {  // one element at `begin`; the masks do not apply
      step = 1;
      e = b == -1 ? kMax : b + 1;
    } else {
      if ((begin_mask >> d) & 1) b = step > 0 ? 0 : kMax;
      if ((end_mask >> d) & 1) e = step > 0 ? kMax : kMin;
    }
    starts[d] = b, ends[d] = e, steps[d] = step, axes[d] = static_cast<int64_t>(d);
  }
  const int sliced = shrink_mask ? temp("/unshrunk", dtype_of(x)) : output();
  emit(OpKind::Slice,
       {x, g_.constant_i64(op_.name + "/starts", starts), g_.constant_i64(op_.name + "/ends", ends),
        g_.constant_i64(op_.name + "/axes", axes), g_.constant_i64(op_.name + "/steps", steps)},
       {sliced});
  if (shrink_mask) {
    std::vector<int64_t> shrunk;
    for (size_t d = 0; d < rank; ++d)
      if ((shrink_mask >> d) & 1) shrunk.push_back(static_cast<int64_t>(d));
    emit(OpKind::Squeeze, {sliced, g_.constant_i64(op_.name + "/shrunk_axes", shrunk)}, {output()});
  }
  return Status::ok();
}

// SLICE: begin and size per axis (size -1: to the end).
Status Converter::slice() {
  ISKRA_RETURN_IF_ERROR(expect_io(3, 3, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(Shape x_shape, static_shape(x, "the input"));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> begin, constant_ints(1, "the begin", x_shape.size()));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> size, constant_ints(2, "the size", x_shape.size()));
  std::vector<int64_t> ends(size.size());
  for (size_t d = 0; d < size.size(); ++d) {
    if (begin[d] < 0 || size[d] < -1) return invalid_model("begin ", begin[d], " and size ", size[d], " at axis ", d);
    ends[d] = size[d] == -1 ? std::numeric_limits<int64_t>::max() : begin[d] + size[d];
  }
  emit(OpKind::Slice, {x, g_.constant_i64(op_.name + "/starts", begin), g_.constant_i64(op_.name + "/ends", ends)},
       {output()});
  return Status::ok();
}

// SPLIT (axis, x) into equal parts, SPLIT_V (x, sizes, axis) into given sizes (one may be -1).
Status Converter::split() {
  const bool by_sizes = op_.code == BuiltinOperator::SPLIT_V;
  if (op_.inputs.size() != (by_sizes ? 3u : 2u) || op_.outputs.empty())
    return invalid_model("has ", op_.inputs.size(), " inputs and ", op_.outputs.size(), " outputs");
  ISKRA_ASSIGN_OR_RETURN(int x, input(by_sizes ? 0 : 1));
  ISKRA_ASSIGN_OR_RETURN(Shape x_shape, static_shape(x, "the input"));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> axis_value, constant_ints(by_sizes ? 2 : 0, "the axis", 1));
  ISKRA_ASSIGN_OR_RETURN(int64_t axis, resolved_axis(axis_value[0], x_shape.size()));
  const int64_t dim = x_shape[static_cast<size_t>(axis)];
  const auto parts = static_cast<int64_t>(op_.outputs.size());
  std::vector<int64_t> sizes;
  if (by_sizes) {
    ISKRA_ASSIGN_OR_RETURN(sizes, constant_ints(1, "the sizes", op_.outputs.size()));
    int64_t known = 0, unknown = 0;
    for (int64_t s : sizes) s == -1 ? ++unknown : known += s;
    if (unknown > 1) return invalid_model("more than one split size is -1");
    for (int64_t& s : sizes)
      if (s == -1) s = dim - known;
  } else {
    if (dim % parts != 0) return invalid_model("a dim of ", dim, " does not split into ", parts, " equal parts");
    sizes.assign(static_cast<size_t>(parts), dim / parts);
  }
  emit(OpKind::Split, {x, g_.constant_i64(op_.name + "/sizes", sizes)}, op_.outputs).attrs["axis"] = axis;
  return Status::ok();
}

// PACK: the inputs stacked along a new axis = Unsqueeze each, then Concat.
Status Converter::pack() {
  if (op_.inputs.empty() || op_.outputs.size() != 1) return invalid_model("needs inputs and one output");
  const auto* o = op_.op->builtin_options_as_PackOptions();
  ISKRA_ASSIGN_OR_RETURN(int first, input(0));
  ISKRA_ASSIGN_OR_RETURN(Shape shape, static_shape(first, "the inputs"));
  ISKRA_ASSIGN_OR_RETURN(int64_t axis, resolved_axis(o ? o->axis() : 0, shape.size() + 1));
  const int axes = g_.constant_i64(op_.name + "/axis", {axis});
  std::vector<int> expanded;
  for (size_t i = 0; i < op_.inputs.size(); ++i) {
    ISKRA_ASSIGN_OR_RETURN(int v, input(i));
    expanded.push_back(temp(str_cat("/expanded_", i), dtype_of(v)));
    emit(OpKind::Unsqueeze, {v, axes}, {expanded.back()});
  }
  emit(OpKind::Concat, expanded, {output()}).attrs["axis"] = axis;
  return Status::ok();
}

// UNPACK: slices along an axis, the axis removed = Split into ones, then Squeeze each.
Status Converter::unpack() {
  if (op_.inputs.size() != 1 || op_.outputs.empty()) return invalid_model("needs one input and outputs");
  const auto* o = op_.op->builtin_options_as_UnpackOptions();
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(Shape shape, static_shape(x, "the input"));
  ISKRA_ASSIGN_OR_RETURN(int64_t axis, resolved_axis(o ? o->axis() : 0, shape.size()));
  if (shape[static_cast<size_t>(axis)] != static_cast<int64_t>(op_.outputs.size()))
    return invalid_model("axis ", axis, " of ", shape_to_string(shape), " does not unpack into ", op_.outputs.size());
  std::vector<int> pieces;
  for (size_t i = 0; i < op_.outputs.size(); ++i) pieces.push_back(temp(str_cat("/piece_", i), dtype_of(x)));
  emit(OpKind::Split, {x, g_.constant_i64(op_.name + "/sizes", std::vector<int64_t>(op_.outputs.size(), 1))}, pieces)
      .attrs["axis"] = axis;
  const int axes = g_.constant_i64(op_.name + "/axis", {axis});
  for (size_t i = 0; i < pieces.size(); ++i) emit(OpKind::Squeeze, {pieces[i], axes}, {output(i)});
  return Status::ok();
}

// BATCH_MATMUL: MatMul (batch dims broadcast), adj_x / adj_y transposing the last two axes first.
Status Converter::batch_matmul() {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 2, 1));
  const auto* o = op_.op->builtin_options_as_BatchMatMulOptions();
  std::array<int, 2> sides{};
  for (size_t i = 0; i < 2; ++i) {
    ISKRA_ASSIGN_OR_RETURN(sides[i], input(i));
    if (!(o && (i == 0 ? o->adj_x() : o->adj_y()))) continue;
    ISKRA_ASSIGN_OR_RETURN(Shape shape, static_shape(sides[i], "an adjoint input"));
    if (shape.size() < 2) return invalid_model("an adjoint input has rank ", shape.size());
    std::vector<int> perm(shape.size());
    for (size_t d = 0; d < perm.size(); ++d) perm[d] = static_cast<int>(d);
    std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
    sides[i] = transpose(sides[i], perm, i == 0 ? "/x_adjoint" : "/y_adjoint");
  }
  emit(OpKind::MatMul, {sides[0], sides[1]}, {output()});
  return Status::ok();
}

// ARG_MAX over one axis, the axis removed; int64 indices, cast when the output is int32.
Status Converter::arg_max() {
  ISKRA_RETURN_IF_ERROR(expect_io(2, 2, 1));
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(Shape shape, static_shape(x, "the input"));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> axis_value, constant_ints(1, "the axis", 1));
  ISKRA_ASSIGN_OR_RETURN(int64_t axis, resolved_axis(axis_value[0], shape.size()));
  const DType out_dtype = dtype_of(output());
  if (out_dtype != DType::kI64 && out_dtype != DType::kI32)
    return invalid_model("the output must be int32 or int64, not ", dtype_name(out_dtype));
  const int indices = out_dtype == DType::kI64 ? output() : temp("/indices_i64", DType::kI64);
  Node& node = emit(OpKind::ArgMax, {x}, {indices});
  node.attrs["axis"] = axis;
  node.attrs["keepdims"] = int64_t{0};
  if (indices != output())
    emit(OpKind::Cast, {indices}, {output()}).attrs["to"] = int64_t{static_cast<int64_t>(DType::kI32)};
  return Status::ok();
}

Status Converter::run() {
  switch (op_.code) {
    case BuiltinOperator::CONV_2D: return conv2d();
    case BuiltinOperator::DEPTHWISE_CONV_2D: return depthwise_conv2d();
    case BuiltinOperator::TRANSPOSE_CONV: {
      // inputs: output_shape, filter, x, bias (v3)
      ISKRA_RETURN_IF_ERROR(expect_io(3, 4, 1));
      const auto* o = op_.op->builtin_options_as_TransposeConvOptions();
      if (!o) return invalid_model("has no TransposeConvOptions");
      ISKRA_ASSIGN_OR_RETURN(int x, input(2));
      return transpose_conv(x, 1, optional_input(3), o->padding(), o->stride_h(), o->stride_w(),
                            o->fused_activation_function());
    }
    case BuiltinOperator::MAX_POOL_2D: return pool2d(OpKind::MaxPool);
    case BuiltinOperator::AVERAGE_POOL_2D: return pool2d(OpKind::AveragePool);
    case BuiltinOperator::ADD: return binary(OpKind::Add);
    case BuiltinOperator::SUB: return binary(OpKind::Sub);
    case BuiltinOperator::MUL: return binary(OpKind::Mul);
    case BuiltinOperator::DIV: return binary(OpKind::Div);
    case BuiltinOperator::MAXIMUM: return binary(OpKind::Max);
    case BuiltinOperator::MINIMUM: return binary(OpKind::Min);
    case BuiltinOperator::POW: return binary(OpKind::Pow);
    case BuiltinOperator::SQUARED_DIFFERENCE: {
      ISKRA_RETURN_IF_ERROR(expect_io(2, 2, 1));
      ISKRA_ASSIGN_OR_RETURN(int a, input(0));
      ISKRA_ASSIGN_OR_RETURN(int b, input(1));
      const int d = temp("/difference");
      emit(OpKind::Sub, {a, b}, {d});
      emit(OpKind::Mul, {d, d}, {output()});
      return Status::ok();
    }
    case BuiltinOperator::PRELU: return binary(OpKind::PRelu);
    case BuiltinOperator::RELU: return unary(OpKind::Relu);
    case BuiltinOperator::RELU6:
    case BuiltinOperator::RELU_N1_TO_1: {
      ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
      ISKRA_ASSIGN_OR_RETURN(int x, input(0));
      return op_.code == BuiltinOperator::RELU6 ? clip(x, output(), 0, 6) : clip(x, output(), -1, 1);
    }
    case BuiltinOperator::LOGISTIC: return unary(OpKind::Sigmoid);
    case BuiltinOperator::TANH: return unary(OpKind::Tanh);
    case BuiltinOperator::HARD_SWISH: return unary(OpKind::HardSwish);
    case BuiltinOperator::EXP: return unary(OpKind::Exp);
    case BuiltinOperator::SQRT: return unary(OpKind::Sqrt);
    case BuiltinOperator::RSQRT: {
      ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
      ISKRA_ASSIGN_OR_RETURN(int x, input(0));
      const int s = temp("/sqrt");
      emit(OpKind::Sqrt, {x}, {s});
      emit(OpKind::Reciprocal, {s}, {output()});
      return Status::ok();
    }
    case BuiltinOperator::ABS: return unary(OpKind::Abs);
    case BuiltinOperator::NEG: return unary(OpKind::Neg);
    case BuiltinOperator::LEAKY_RELU: {
      ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
      ISKRA_ASSIGN_OR_RETURN(int x, input(0));
      const auto* o = op_.op->builtin_options_as_LeakyReluOptions();
      emit(OpKind::LeakyRelu, {x}, {output()}).attrs["alpha"] = o ? o->alpha() : 0.2f;
      return Status::ok();
    }
    case BuiltinOperator::CONCATENATION: return concatenation();
    case BuiltinOperator::RESHAPE: return reshape();
    case BuiltinOperator::SQUEEZE:
    case BuiltinOperator::EXPAND_DIMS: {  // a reshape to the output tensor's shape
      ISKRA_RETURN_IF_ERROR(expect_io(1, 2, 1));
      ISKRA_ASSIGN_OR_RETURN(int x, input(0));
      ISKRA_ASSIGN_OR_RETURN(Shape y_shape, static_shape(output(), "the output"));
      ISKRA_ASSIGN_OR_RETURN(Shape x_shape, static_shape(x, "the input"));
      if (shape_element_count(x_shape) != shape_element_count(y_shape))
        return invalid_model("output ", shape_to_string(y_shape), " does not hold input ", shape_to_string(x_shape));
      emit(OpKind::Reshape, {x, g_.constant_i64(op_.name + "/shape", y_shape)}, {output()}).attrs["allowzero"] = int64_t{1};
      return Status::ok();
    }
    case BuiltinOperator::PAD:
    case BuiltinOperator::PADV2:
    case BuiltinOperator::MIRROR_PAD: return pad();
    case BuiltinOperator::MEAN:
    case BuiltinOperator::SUM:
    case BuiltinOperator::REDUCE_MAX:
    case BuiltinOperator::REDUCE_MIN:
    case BuiltinOperator::REDUCE_PROD: return mean();
    case BuiltinOperator::RESIZE_BILINEAR: return resize(true);
    case BuiltinOperator::RESIZE_NEAREST_NEIGHBOR: return resize(false);
    case BuiltinOperator::FULLY_CONNECTED: return fully_connected();
    case BuiltinOperator::DEPTH_TO_SPACE: return depth_to_space();
    case BuiltinOperator::SOFTMAX: return softmax();
    case BuiltinOperator::DEQUANTIZE: return dequantize();
    case BuiltinOperator::DENSIFY: {
      // The importer expanded the sparse constant already: the output is that constant.
      ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
      ISKRA_RETURN_IF_ERROR(input(0).status());
      if (!g_.constant(op_.inputs[0])) return invalid_model("DENSIFY of a value that is not a constant");
      g_.bind_tensor(op_.output_tensor_ids[0], op_.inputs[0]);
      return Status::ok();
    }
    case BuiltinOperator::TRANSPOSE: {
      ISKRA_RETURN_IF_ERROR(expect_io(2, 2, 1));
      ISKRA_ASSIGN_OR_RETURN(int x, input(0));
      ISKRA_ASSIGN_OR_RETURN(const Tensor* perm, constant_input(1, "the permutation"));
      emit(OpKind::Transpose, {x}, {output()}).attrs["perm"] = to_i64(*perm);
      return Status::ok();
    }
    case BuiltinOperator::STRIDED_SLICE: return strided_slice();
    case BuiltinOperator::SLICE: return slice();
    case BuiltinOperator::SPLIT:
    case BuiltinOperator::SPLIT_V: return split();
    case BuiltinOperator::PACK: return pack();
    case BuiltinOperator::UNPACK: return unpack();
    case BuiltinOperator::BATCH_MATMUL: return batch_matmul();
    case BuiltinOperator::ARG_MAX: return arg_max();
    case BuiltinOperator::GATHER: {
      ISKRA_RETURN_IF_ERROR(expect_io(2, 2, 1));
      ISKRA_ASSIGN_OR_RETURN(int x, input(0));
      ISKRA_ASSIGN_OR_RETURN(int indices, input(1));
      const auto* o = op_.op->builtin_options_as_GatherOptions();
      if (o && o->batch_dims() != 0) return unsupported("GATHER with batch_dims ", o->batch_dims(), " is not supported");
      emit(OpKind::Gather, {x, indices}, {output()}).attrs["axis"] = int64_t{o ? o->axis() : 0};
      return Status::ok();
    }
    case BuiltinOperator::CAST: {
      ISKRA_RETURN_IF_ERROR(expect_io(1, 1, 1));
      ISKRA_ASSIGN_OR_RETURN(int x, input(0));
      emit(OpKind::Cast, {x}, {output()}).attrs["to"] = int64_t{static_cast<int64_t>(dtype_of(output()))};
      return Status::ok();
    }
    case BuiltinOperator::CUSTOM:
      if (op_.custom_code == "Convolution2DTransposeBias") {
        ISKRA_RETURN_IF_ERROR(expect_io(3, 3, 1));
        for (size_t i = 0; i < 3; ++i) ISKRA_RETURN_IF_ERROR(input(i).status());
        const auto* options = op_.op->custom_options();
        int32_t params[3];  // TfLiteTransposeConvParams: padding, stride_width, stride_height
        if (!options || options->size() < sizeof(params)) return invalid_model("custom_options hold no TfLiteTransposeConvParams");
        std::memcpy(params, options->data(), sizeof(params));
        const Padding padding = params[0] == 1 ? Padding::SAME : params[0] == 2 ? Padding::VALID : static_cast<Padding>(-1);
        return transpose_conv(op_.inputs[0], 1, op_.inputs[2], padding, params[2], params[1], ActivationFunctionType::NONE);
      }
      return unsupported("custom op '", op_.custom_code, "' is not supported");
    default: break;
  }
  const char* name = schema::EnumNameBuiltinOperator(op_.code);
  return unsupported("builtin op ", *name ? name : "?", " (code ", static_cast<int32_t>(op_.code), ") is not supported");
}

}  // namespace

Status convert_float_operator(const OpToConvert& op, GraphEmitter& emitter) { return Converter(op, emitter).run(); }

}  // namespace iskra::tflite
