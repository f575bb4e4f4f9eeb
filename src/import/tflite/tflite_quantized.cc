// TFLite quantized operators → IR nodes.
//
// A TFLite tensor is quantized when it is an integer tensor with scales (and
// zero points): real = scale * (q - zero_point), per tensor or per channel.
// Operators on quantized values are converted here:
//
//   QUANTIZE / DEQUANTIZE      QuantizeLinear / DequantizeLinear (a requantizing
//                              QUANTIZE as both)
//   CONV_2D, DEPTHWISE_CONV_2D QLinearConvNhwc: int8 x int8 → int32 accumulate,
//   FULLY_CONNECTED            requantized, the fused activation a clamp of the
//                              quantized output (FULLY_CONNECTED as a 1x1 conv)
//   data movement              on the integers themselves when every quantized
//   (reshape, slice, concat,   tensor of the op has the same scale and zero
//   pad, max pool, ...)        point (PAD pads with the zero point)
//   everything else            its float form between DequantizeLinear of the
//                              quantized inputs and QuantizeLinear of the
//                              quantized outputs (element-wise ops, average
//                              pools, means, softmax: memory-bound next to the
//                              convolutions)
//
// Dynamic-range ("hybrid") models keep float activations and int8 weights: an
// op with float outputs gets its quantized constant inputs dequantized at load.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/str_cat.h"
#include "import/tflite/tflite_builder.h"
#include "kernels/layout.h"

namespace iskra::tflite {

namespace {

using schema::ActivationFunctionType;
using schema::BuiltinOperator;

// The quantization of a TFLite tensor: real = scales[c] * (q - zero_points[c]).
struct Quantization {
  DType dtype = DType::kF32;
  std::vector<float> scales;
  std::vector<int64_t> zero_points;  // as many as scales
  int64_t axis = 0;                  // the channel axis when there are several scales

  bool per_tensor() const { return scales.size() == 1; }
  bool operator==(const Quantization& o) const {
    return dtype == o.dtype && scales == o.scales && zero_points == o.zero_points;
  }
};

bool is_quantizable_dtype(schema::TensorType t) {
  return t == schema::TensorType::INT8 || t == schema::TensorType::UINT8 || t == schema::TensorType::INT16;
}

// The quantization of `t`, or nothing for a float tensor or one without scales.
Result<std::optional<Quantization>> quantization_of(const schema::Tensor* t) {
  if (!t || !is_quantizable_dtype(t->type())) return std::optional<Quantization>();
  const schema::QuantizationParameters* q = t->quantization();
  if (!q || !q->scale() || q->scale()->size() == 0) return std::optional<Quantization>();
  Quantization result;
  ISKRA_ASSIGN_OR_RETURN(result.dtype, dtype_from_tflite(t->type(), "a quantized tensor"));
  for (float s : *q->scale()) {
    if (!(s > 0.0f) || !std::isfinite(s)) return invalid_model("quantization scale ", s, " is not a positive number");
    result.scales.push_back(s);
  }
  const size_t zero_points = q->zero_point() ? q->zero_point()->size() : 0;
  if (zero_points != 0 && zero_points != result.scales.size())
    return invalid_model(zero_points, " zero points for ", result.scales.size(), " scales");
  for (size_t i = 0; i < result.scales.size(); ++i)
    result.zero_points.push_back(zero_points ? q->zero_point()->Get(static_cast<flatbuffers::uoffset_t>(i)) : 0);
  const int64_t lo = result.dtype == DType::kI8 ? -128 : result.dtype == DType::kU8 ? 0 : -32768;
  const int64_t hi = result.dtype == DType::kI8 ? 127 : result.dtype == DType::kU8 ? 255 : 32767;
  for (int64_t z : result.zero_points)
    if (z < lo || z > hi) return invalid_model("zero point ", z, " is outside the range of ", dtype_name(result.dtype));
  result.axis = result.scales.size() > 1 ? q->quantized_dimension() : 0;
  return std::optional<Quantization>(std::move(result));
}

template <class T>
Tensor vector_tensor(const std::vector<T>& values, bool scalar) {
  return Tensor::from_vector<T>(scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())}, values).value();
}

class QuantizedConverter {
 public:
  QuantizedConverter(const OpToConvert& op, GraphEmitter& g) : op_(op), g_(g) {}

  Status run();

 private:
  Result<std::optional<Quantization>> input_quantization(size_t i) const {
    return quantization_of(i < op_.input_tensors.size() ? op_.input_tensors[i] : nullptr);
  }
  Result<std::optional<Quantization>> output_quantization(size_t i) const {
    return quantization_of(i < op_.output_tensors.size() ? op_.output_tensors[i] : nullptr);
  }
  Result<Quantization> required(Result<std::optional<Quantization>> q, const char* what) const {
    if (!q) return q.status();
    if (!*q) return invalid_model(what, " is not quantized");
    return **q;
  }
  Result<int> input(size_t i) const {
    if (i >= op_.inputs.size() || op_.inputs[i] == kNoValue) return invalid_model("input ", i, " is missing");
    return op_.inputs[i];
  }
  Node& emit(OpKind op, std::vector<int> in, std::vector<int> out) { return g_.emit(op, op_, std::move(in), std::move(out)); }

  // Constants of a quantization: its scale(s) as float32 and zero point(s) in its dtype.
  int scale_constant(const Quantization& q, const std::string& suffix) {
    return g_.add_constant(op_.name + suffix, vector_tensor(q.scales, q.per_tensor()));
  }
  int zero_point_constant(const Quantization& q, const std::string& suffix) {
    Tensor t;
    switch (q.dtype) {
      case DType::kI8: t = vector_tensor(std::vector<int8_t>(q.zero_points.begin(), q.zero_points.end()), q.per_tensor()); break;
      case DType::kU8: t = vector_tensor(std::vector<uint8_t>(q.zero_points.begin(), q.zero_points.end()), q.per_tensor()); break;
      default: t = vector_tensor(std::vector<int16_t>(q.zero_points.begin(), q.zero_points.end()), q.per_tensor()); break;
    }
    return g_.add_constant(op_.name + suffix, std::move(t));
  }
  Status check_per_tensor(const Quantization& q, const char* what) const {
    if (!q.per_tensor()) return unsupported(what, " is quantized per channel, which this op does not support");
    return Status::ok();
  }

  int quantize(int x, const Quantization& q, int out) {
    emit(OpKind::QuantizeLinear, {x, scale_constant(q, "/scale"), zero_point_constant(q, "/zero_point")}, {out});
    return out;
  }
  int dequantize(int x, const Quantization& q, int out) {
    Node& node = emit(OpKind::DequantizeLinear, {x, scale_constant(q, "/x_scale"), zero_point_constant(q, "/x_zero_point")}, {out});
    if (!q.per_tensor()) node.attrs["axis"] = q.axis;
    return out;
  }

  Status quantize_op();
  Status dequantize_op();
  Status integer_conv();
  bool is_data_movement() const;
  Status data_movement();
  Status through_float();
  Result<std::pair<int64_t, int64_t>> activation_range(ActivationFunctionType act, const Quantization& y) const;

  const OpToConvert& op_;
  GraphEmitter& g_;
};

Status QuantizedConverter::run() {
  switch (op_.code) {
    case BuiltinOperator::QUANTIZE: return quantize_op();
    case BuiltinOperator::DEQUANTIZE: return dequantize_op();
    case BuiltinOperator::CONV_2D:
    case BuiltinOperator::DEPTHWISE_CONV_2D:
    case BuiltinOperator::FULLY_CONNECTED: {
      ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> x, input_quantization(0));
      ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> y, output_quantization(0));
      // int8 / uint8 activations; 16-bit activations (16x8 models) go through float.
      if (x && y && x->dtype != DType::kI16 && y->dtype != DType::kI16) return integer_conv();
      return through_float();
    }
    default: break;
  }
  if (is_data_movement()) {
    Status s = data_movement();
    if (s.code() != StatusCode::kUnsupported) return s;
  }
  return through_float();
}

Status QuantizedConverter::quantize_op() {
  if (op_.inputs.size() != 1 || op_.outputs.size() != 1) return invalid_model("QUANTIZE needs one input and one output");
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(Quantization y, required(output_quantization(0), "the output"));
  ISKRA_RETURN_IF_ERROR(check_per_tensor(y, "the output"));
  ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> xq, input_quantization(0));
  if (xq) {  // requantization: int → real → int
    const int real = g_.new_value(op_.name + "/real", DType::kF32);
    x = dequantize(x, *xq, real);
  } else if (g_.value(x).dtype != DType::kF32) {
    return unsupported("QUANTIZE of ", dtype_name(g_.value(x).dtype), " is not supported");
  }
  quantize(x, y, op_.outputs[0]);
  return Status::ok();
}

Status QuantizedConverter::dequantize_op() {
  if (op_.inputs.size() != 1 || op_.outputs.size() != 1) return invalid_model("DEQUANTIZE needs one input and one output");
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(Quantization q, required(input_quantization(0), "the input"));
  if (g_.value(op_.outputs[0]).dtype != DType::kF32) return unsupported("DEQUANTIZE to ", dtype_name(g_.value(op_.outputs[0]).dtype));
  dequantize(x, q, op_.outputs[0]);
  return Status::ok();
}

// The clamp of the quantized output that a fused activation is: TFLite's
// zero_point + round(bound / scale), within the dtype's range.
Result<std::pair<int64_t, int64_t>> QuantizedConverter::activation_range(ActivationFunctionType act,
                                                                          const Quantization& y) const {
  const int64_t lo = y.dtype == DType::kI8 ? -128 : 0, hi = y.dtype == DType::kI8 ? 127 : 255;
  const auto q = [&](float v) { return y.zero_points[0] + static_cast<int64_t>(std::round(v / y.scales[0])); };
  switch (act) {
    case ActivationFunctionType::NONE: return std::pair{lo, hi};
    case ActivationFunctionType::RELU: return std::pair{std::max(lo, q(0.0f)), hi};
    case ActivationFunctionType::RELU6: return std::pair{std::max(lo, q(0.0f)), std::min(hi, q(6.0f))};
    case ActivationFunctionType::RELU_N1_TO_1: return std::pair{std::max(lo, q(-1.0f)), std::min(hi, q(1.0f))};
    default: break;
  }
  return unsupported("fused activation ", schema::EnumNameActivationFunctionType(act), " on a quantized output");
}

// CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED on quantized values → QLinearConvNhwc.
Status QuantizedConverter::integer_conv() {
  if (op_.inputs.size() < 2 || op_.inputs.size() > 3 || op_.outputs.size() != 1)
    return invalid_model("has ", op_.inputs.size(), " inputs and ", op_.outputs.size(), " outputs");
  ISKRA_ASSIGN_OR_RETURN(int x, input(0));
  ISKRA_ASSIGN_OR_RETURN(int w_value, input(1));
  const Tensor* w = g_.constant(w_value);
  if (!w) return unsupported("the filter must be a constant");
  ISKRA_ASSIGN_OR_RETURN(Quantization xq, required(input_quantization(0), "the input"));
  ISKRA_ASSIGN_OR_RETURN(Quantization wq, required(input_quantization(1), "the filter"));
  ISKRA_ASSIGN_OR_RETURN(Quantization yq, required(output_quantization(0), "the output"));
  ISKRA_RETURN_IF_ERROR(check_per_tensor(xq, "the input"));
  ISKRA_RETURN_IF_ERROR(check_per_tensor(yq, "the output"));
  if (wq.dtype != DType::kI8 && wq.dtype != DType::kU8) return unsupported("a ", dtype_name(wq.dtype), " filter");
  if (xq.dtype != yq.dtype) return unsupported("input and output of different dtypes");
  auto x_shape = g_.static_shape(x);
  auto y_shape = g_.static_shape(op_.outputs[0]);
  if (!x_shape || !y_shape) return unsupported("the input and output must have static shapes");

  // The filter as [M, C/group, kh, kw] and the per-output-channel axis of its scales.
  Tensor filter;
  int64_t group = 1;
  std::vector<int64_t> strides = {1, 1}, dilations = {1, 1};
  std::string auto_pad = "VALID";
  ActivationFunctionType act = ActivationFunctionType::NONE;
  const auto padding = [](schema::Padding p) -> Result<std::string> {
    if (p == schema::Padding::SAME) return std::string("SAME_UPPER");
    if (p == schema::Padding::VALID) return std::string("VALID");
    return invalid_model("unknown padding ", static_cast<int>(p));
  };
  int x4 = x;
  const bool fully_connected = op_.code == BuiltinOperator::FULLY_CONNECTED;
  if (fully_connected) {
    const auto* o = op_.op->builtin_options_as_FullyConnectedOptions();
    if (o && o->weights_format() != schema::FullyConnectedOptionsWeightsFormat::DEFAULT)
      return unsupported("shuffled weights formats are not supported");
    if (o) act = o->fused_activation_function();
    if (w->rank() != 2) return invalid_model("the weights must be 2-D, not ", w->describe());
    ISKRA_ASSIGN_OR_RETURN(filter, Tensor::allocate_uninitialized(w->dtype(), Shape{w->dim(0), w->dim(1), 1, 1}));
    std::memcpy(filter.raw_data(), w->raw_data(), w->byte_size());
    // x [..., I] → [rows, 1, 1, I]: a 1x1 convolution over `rows` pixels.
    x4 = g_.new_value(op_.name + "/input_nhwc", xq.dtype);
    emit(OpKind::Reshape, {x, g_.constant_i64(op_.name + "/input_shape", {-1, 1, 1, w->dim(1)})}, {x4});
  } else {
    if (w->rank() != 4 || x_shape->size() != 4) return invalid_model("the input and filter must be 4-D");
    // Conv2DOptions and DepthwiseConv2DOptions share these fields' names.
    const auto read_options = [&](const auto* o) -> Status {
      if (!o) return invalid_model("has no options");
      strides = {o->stride_h(), o->stride_w()};
      dilations = {o->dilation_h_factor(), o->dilation_w_factor()};
      act = o->fused_activation_function();
      ISKRA_ASSIGN_OR_RETURN(auto_pad, padding(o->padding()));
      return Status::ok();
    };
    if (op_.code == BuiltinOperator::DEPTHWISE_CONV_2D) {
      ISKRA_RETURN_IF_ERROR(read_options(op_.op->builtin_options_as_DepthwiseConv2DOptions()));
      ISKRA_ASSIGN_OR_RETURN(filter, permuted(*w, std::array<int, 4>{3, 0, 1, 2}));  // [1, kh, kw, C*k] → [C*k, 1, kh, kw]
      group = (*x_shape)[3];
      if (wq.scales.size() > 1 && wq.axis != 3) return invalid_model("depthwise filter scales along axis ", wq.axis);
    } else {
      ISKRA_RETURN_IF_ERROR(read_options(op_.op->builtin_options_as_Conv2DOptions()));
      ISKRA_ASSIGN_OR_RETURN(filter, permuted(*w, std::array<int, 4>{0, 3, 1, 2}));  // [O, kh, kw, I] → [O, I, kh, kw]
      if (filter.dim(1) <= 0 || (*x_shape)[3] % filter.dim(1) != 0)
        return invalid_model("the filter's ", filter.dim(1), " input channels do not divide the input's ", (*x_shape)[3]);
      group = (*x_shape)[3] / filter.dim(1);
    }
  }
  if (wq.scales.size() > 1) {
    if (static_cast<int64_t>(wq.scales.size()) != filter.dim(0))
      return invalid_model(wq.scales.size(), " filter scales for ", filter.dim(0), " output channels");
    if (op_.code != BuiltinOperator::DEPTHWISE_CONV_2D && wq.axis != 0)
      return invalid_model("filter scales along axis ", wq.axis, ", expected 0");
  }
  const std::string w_name = g_.value(w_value).name + "/oihw";
  std::vector<int> in = {x4,
                         scale_constant(xq, "/x_scale"),
                         zero_point_constant(xq, "/x_zero_point"),
                         g_.add_constant(w_name, std::move(filter)),
                         scale_constant(wq, "/w_scale"),
                         zero_point_constant(wq, "/w_zero_point"),
                         scale_constant(yq, "/y_scale"),
                         zero_point_constant(yq, "/y_zero_point")};
  if (op_.inputs.size() > 2 && op_.inputs[2] != kNoValue) {
    const Tensor* b = g_.constant(op_.inputs[2]);
    if (!b || b->dtype() != DType::kI32) return unsupported("the bias must be an int32 constant");
    in.push_back(op_.inputs[2]);
  }
  const int y4 = fully_connected ? g_.new_value(op_.name + "/output_nhwc", yq.dtype) : op_.outputs[0];
  ISKRA_ASSIGN_OR_RETURN(auto range, activation_range(act, yq));
  Node& conv = emit(OpKind::QLinearConvNhwc, std::move(in), {y4});
  conv.attrs["strides"] = strides;
  conv.attrs["dilations"] = dilations;
  conv.attrs["auto_pad"] = auto_pad;
  conv.attrs["group"] = group;
  conv.attrs["activation_min"] = range.first;
  conv.attrs["activation_max"] = range.second;
  if (fully_connected) emit(OpKind::Reshape, {y4, g_.constant_i64(op_.name + "/output_shape", *y_shape)}, {op_.outputs[0]});
  return Status::ok();
}

// Ops that only move, pick or compare elements: exact on the integers when
// input and output share their quantization.
bool QuantizedConverter::is_data_movement() const {
  switch (op_.code) {
    case BuiltinOperator::RESHAPE: case BuiltinOperator::SQUEEZE: case BuiltinOperator::EXPAND_DIMS:
    case BuiltinOperator::TRANSPOSE: case BuiltinOperator::STRIDED_SLICE: case BuiltinOperator::SLICE:
    case BuiltinOperator::GATHER: case BuiltinOperator::SPLIT: case BuiltinOperator::SPLIT_V:
    case BuiltinOperator::PACK: case BuiltinOperator::UNPACK: case BuiltinOperator::CONCATENATION:
    case BuiltinOperator::PAD: case BuiltinOperator::PADV2: case BuiltinOperator::MAX_POOL_2D:
    case BuiltinOperator::DEPTH_TO_SPACE: case BuiltinOperator::RESIZE_NEAREST_NEIGHBOR:
      return true;
    default:
      return false;
  }
}

// Unsupported (so the caller goes through float) unless every quantized
// tensor of the op has the output's quantization and no activation is fused.
Status QuantizedConverter::data_movement() {
  ISKRA_ASSIGN_OR_RETURN(Quantization y, required(output_quantization(0), "the output"));
  for (size_t i = 1; i < op_.outputs.size(); ++i) {
    ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> q, output_quantization(i));
    if (!q || !(*q == y)) return unsupported("outputs of different quantizations");
  }
  for (size_t i = 0; i < op_.inputs.size(); ++i) {
    ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> q, input_quantization(i));
    if (q && !(*q == y)) return unsupported("input ", i, " is quantized unlike the output");
    if (!q && g_.value(op_.inputs[i]).dtype == y.dtype && !g_.constant(op_.inputs[i]))
      return unsupported("input ", i, " is an integer tensor without quantization");
  }
  if (const auto* o = op_.op->builtin_options_as_ConcatenationOptions(); o && o->fused_activation_function() != ActivationFunctionType::NONE)
    return unsupported("a fused activation");
  if (const auto* o = op_.op->builtin_options_as_Pool2DOptions(); o && o->fused_activation_function() != ActivationFunctionType::NONE)
    return unsupported("a fused activation");
  if (op_.code == BuiltinOperator::PAD && op_.inputs.size() == 2) {
    OpToConvert padded = op_;  // pads with the zero point, the quantized 0
    padded.inputs.push_back(zero_point_constant(y, "/pad_value"));
    padded.input_tensors.push_back(nullptr);
    return convert_float_operator(padded, g_);
  }
  return convert_float_operator(op_, g_);
}

// The op's float form: quantized inputs dequantized (constants now, values by
// DequantizeLinear), quantized outputs computed in float and quantized.
Status QuantizedConverter::through_float() {
  OpToConvert f = op_;
  for (size_t i = 0; i < f.inputs.size(); ++i) {
    if (f.inputs[i] == kNoValue) continue;
    ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> q, input_quantization(i));
    if (!q) continue;
    if (const Tensor* c = g_.constant(f.inputs[i])) {
      ISKRA_ASSIGN_OR_RETURN(Tensor real, dequantized_constant(*c, op_.input_tensors[i]));
      f.inputs[i] = g_.add_constant(g_.value(f.inputs[i]).name + "/real", std::move(real));
    } else {
      const int real = g_.new_value(str_cat(op_.name, "/input_", i, "_real"), DType::kF32, g_.static_shape(f.inputs[i]));
      f.inputs[i] = dequantize(f.inputs[i], *q, real);
    }
  }
  std::vector<std::pair<int, Quantization>> to_quantize;  // float value → quantization of output i
  for (size_t i = 0; i < f.outputs.size(); ++i) {
    ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> q, output_quantization(i));
    if (!q) continue;
    ISKRA_RETURN_IF_ERROR(check_per_tensor(*q, "the output"));
    f.outputs[i] = g_.new_value(str_cat(op_.name, "/output_", i, "_real"), DType::kF32, g_.static_shape(op_.outputs[i]));
    to_quantize.emplace_back(static_cast<int>(i), *q);
  }
  ISKRA_RETURN_IF_ERROR(convert_float_operator(f, g_));
  for (const auto& [i, q] : to_quantize) quantize(f.outputs[static_cast<size_t>(i)], q, op_.outputs[static_cast<size_t>(i)]);
  return Status::ok();
}

// An op is converted here when it reads or writes a quantized value computed at
// run time (DEQUANTIZE of a constant is folded by the float converter).
Result<bool> is_quantized_operator(const OpToConvert& op, const GraphEmitter& g) {
  if (op.code == BuiltinOperator::QUANTIZE) return true;
  for (size_t i = 0; i < op.output_tensors.size(); ++i) {
    ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> q, quantization_of(op.output_tensors[i]));
    if (q) return true;
  }
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    if (op.inputs[i] == kNoValue || g.constant(op.inputs[i])) continue;
    ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> q, quantization_of(op.input_tensors[i]));
    if (q) return true;
  }
  return false;
}

}  // namespace

Result<Tensor> dequantized_constant(const Tensor& t, const schema::Tensor* tensor) {
  ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> q, quantization_of(tensor));
  if (!q) return invalid_model("the constant has no quantization scale");
  if (t.dtype() != q->dtype) return invalid_model("the constant's dtype does not match its tensor");
  const size_t channels = q->scales.size();
  if (channels > 1 && (q->axis < 0 || q->axis >= t.rank() || static_cast<size_t>(t.dim(static_cast<int>(q->axis))) != channels))
    return invalid_model(channels, " scales do not match dimension ", q->axis, " of ", t.describe());
  ISKRA_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate_uninitialized(DType::kF32, t.shape()));
  int64_t inner = 1;
  for (int d = static_cast<int>(q->axis) + 1; d < t.rank(); ++d) inner *= t.dim(d);
  float* dst = out.data<float>();
  for (int64_t i = 0; i < t.element_count(); ++i) {
    const size_t c = channels > 1 ? static_cast<size_t>((i / inner) % static_cast<int64_t>(channels)) : 0;
    const int64_t v = t.dtype() == DType::kI8 ? int64_t{t.data<int8_t>()[i]}
                      : t.dtype() == DType::kU8 ? int64_t{t.data<uint8_t>()[i]}
                                                : int64_t{t.data<int16_t>()[i]};
    dst[i] = q->scales[c] * static_cast<float>(v - q->zero_points[c]);
  }
  return out;
}

Status convert_operator(const OpToConvert& op, GraphEmitter& emitter) {
  ISKRA_ASSIGN_OR_RETURN(bool quantized, is_quantized_operator(op, emitter));
  if (quantized) return QuantizedConverter(op, emitter).run();
  if (op.code == BuiltinOperator::DEQUANTIZE || op.code == BuiltinOperator::DENSIFY) return convert_float_operator(op, emitter);
  // A dynamic-range op: float values, quantized constants (weights) dequantized now.
  OpToConvert f = op;
  for (size_t i = 0; i < f.inputs.size(); ++i) {
    const Tensor* c = emitter.constant(f.inputs[i]);
    if (!c) continue;
    ISKRA_ASSIGN_OR_RETURN(std::optional<Quantization> q, quantization_of(f.input_tensors[i]));
    if (!q) continue;
    ISKRA_ASSIGN_OR_RETURN(Tensor real, dequantized_constant(*c, f.input_tensors[i]));
    f.inputs[i] = emitter.add_constant(emitter.value(f.inputs[i]).name + "/real", std::move(real));
  }
  return convert_float_operator(f, emitter);
}

}  // namespace iskra::tflite
