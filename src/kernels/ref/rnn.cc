// Reference kernels and shape functions: recurrent cells (RNN, GRU, LSTM) and
// attention (Attention, RotaryEmbedding).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "base/checked_math.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

namespace {

using ref::compute_t;
using ref::convert_element;

// The optional-input pointers of an InferContext, to share parsing with kernels.
std::vector<const Tensor*> input_ptrs(const InferContext& ctx) {
  std::vector<const Tensor*> ptrs(ctx.input_count(), nullptr);
  for (size_t i = 0; i < ptrs.size(); ++i)
    if (ctx.has_input(i)) ptrs[i] = &ctx.input(i);
  return ptrs;
}

const Tensor* optional_input(std::span<const Tensor* const> inputs, size_t i) {
  return i < inputs.size() ? inputs[i] : nullptr;
}

// Rounds v to a float dtype's precision.
double round_as(DType dtype, double v) {
  switch (dtype) {
    case DType::kF32: return static_cast<float>(v);
    case DType::kF16: return static_cast<float>(Float16(static_cast<float>(v)));
    case DType::kBF16: return static_cast<float>(BFloat16(static_cast<float>(v)));
    default: return v;
  }
}

std::vector<double> read_all(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.element_count()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = tensor_double_at(t, static_cast<int64_t>(i));
  return out;
}

Status write_all(KernelContext& ctx, Tensor& out, const std::vector<double>& values) {
  return ISKRA_DISPATCH_FLOAT(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T* dst = out.data<T>();
    for (size_t i = 0; i < values.size(); ++i) dst[i] = convert_element<T>(values[i]);
    return Status::ok();
  }, ctx.unsupported_error("output dtype ", dtype_name(out.dtype())));
}

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---------------------------------------------------------------------------
// Recurrent cells.
//
// Shared layout (layout=0): X [seq, batch, input], W [dirs, gates*hidden, input],
// R [dirs, gates*hidden, hidden], B [dirs, 2*gates*hidden] (Wb then Rb),
// sequence_lens [batch], initial_h/initial_c [dirs, batch, hidden];
// Y [seq, dirs, batch, hidden], Y_h/Y_c [dirs, batch, hidden]. layout=1 puts
// batch first: X [batch, seq, input], initial/Y_h [batch, dirs, hidden],
// Y [batch, seq, dirs, hidden]. Sequences shorter than seq (sequence_lens)
// produce zero Y rows past their end and their final state at their last
// step (zero for an empty sequence), as onnxruntime does.

enum class CellKind { kRnn, kGru, kLstm };

// The activation functions the ONNX recurrent ops accept, with their
// alpha/beta parameters.
struct Activation {
  enum class Fn { kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh,
                  kHardSigmoid, kElu, kSoftsign, kSoftplus };
  Fn fn = Fn::kTanh;
  double alpha = 0, beta = 0;

  double operator()(double x) const {
    switch (fn) {
      case Fn::kRelu: return std::max(x, 0.0);
      case Fn::kTanh: return std::tanh(x);
      case Fn::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
      case Fn::kAffine: return alpha * x + beta;
      case Fn::kLeakyRelu: return x >= 0 ? x : alpha * x;
      case Fn::kThresholdedRelu: return x > alpha ? x : 0.0;
      case Fn::kScaledTanh: return alpha * std::tanh(beta * x);
      case Fn::kHardSigmoid: return std::clamp(alpha * x + beta, 0.0, 1.0);
      case Fn::kElu: return x >= 0 ? x : alpha * (std::exp(x) - 1.0);
      case Fn::kSoftsign: return x / (1.0 + std::abs(x));
      case Fn::kSoftplus: return std::log1p(std::exp(x));
    }
    return x;
  }
};

// Builds the activation list; alpha/beta values are consumed in order by the
// functions that take them, missing ones take the ONNX op defaults.
Result<std::vector<Activation>> parse_activations(const Node& node, const std::vector<std::string>& names) {
  struct Info { const char* name; Activation::Fn fn; int params; double alpha, beta; };
  static const Info kInfos[] = {
      {"relu", Activation::Fn::kRelu, 0, 0, 0},
      {"tanh", Activation::Fn::kTanh, 0, 0, 0},
      {"sigmoid", Activation::Fn::kSigmoid, 0, 0, 0},
      {"affine", Activation::Fn::kAffine, 2, 1.0, 0.0},
      {"leakyrelu", Activation::Fn::kLeakyRelu, 1, 0.01, 0},
      {"thresholdedrelu", Activation::Fn::kThresholdedRelu, 1, 1.0, 0},
      {"scaledtanh", Activation::Fn::kScaledTanh, 2, 1.0, 1.0},
      {"hardsigmoid", Activation::Fn::kHardSigmoid, 2, 0.2, 0.5},
      {"elu", Activation::Fn::kElu, 1, 1.0, 0},
      {"softsign", Activation::Fn::kSoftsign, 0, 0, 0},
      {"softplus", Activation::Fn::kSoftplus, 0, 0, 0},
  };
  const std::vector<float> alphas = node.attr_floats("activation_alpha", {});
  const std::vector<float> betas = node.attr_floats("activation_beta", {});
  size_t next_alpha = 0, next_beta = 0;
  std::vector<Activation> out;
  for (const std::string& name : names) {
    const std::string key = lowercase(name);
    const Info* info = nullptr;
    for (const Info& candidate : kInfos)
      if (key == candidate.name) info = &candidate;
    if (!info) return unsupported(node.label(), "unknown activation function '", name, "'");
    Activation act{info->fn, info->alpha, info->beta};
    if (info->params >= 1 && next_alpha < alphas.size()) act.alpha = alphas[next_alpha++];
    if (info->params >= 2 && next_beta < betas.size()) act.beta = betas[next_beta++];
    out.push_back(act);
  }
  return out;
}

struct CellConfig {
  CellKind kind{};
  int64_t gates = 1;  // weight blocks per direction: RNN 1, GRU 3 (zrh), LSTM 4 (iofc)
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1;
  bool batch_first = false;  // layout == 1
  bool reverse = false;      // direction == "reverse" (bidirectional: dir 1 is reverse)
  std::optional<double> clip;
  bool input_forget = false;         // LSTM: couple the input and forget gates
  bool linear_before_reset = false;  // GRU
  size_t acts_per_dir = 1;
  std::vector<Activation> acts;  // acts_per_dir entries per direction
};

// Input positions: X, W, R, B, sequence_lens, initial_h, then LSTM initial_c, P.
constexpr size_t kInX = 0, kInW = 1, kInR = 2, kInB = 3, kInSeqLens = 4, kInInitialH = 5,
                 kInInitialC = 6, kInPeephole = 7;

Status check_dims(const Node& node, const Tensor* t, const char* what, const Shape& expected) {
  if (t && t->shape() != expected)
    return invalid_model(node.label(), what, " must have shape ", shape_to_string(expected), ", got ",
                         t->describe());
  return Status::ok();
}

Result<CellConfig> parse_cell(const Node& node, std::span<const Tensor* const> inputs, CellKind kind) {
  CellConfig cfg;
  cfg.kind = kind;
  cfg.gates = kind == CellKind::kRnn ? 1 : kind == CellKind::kGru ? 3 : 4;
  cfg.acts_per_dir = kind == CellKind::kRnn ? 1 : kind == CellKind::kGru ? 2 : 3;
  const Tensor* x = optional_input(inputs, kInX);
  const Tensor* w = optional_input(inputs, kInW);
  const Tensor* r = optional_input(inputs, kInR);
  if (!x || !w || !r) return invalid_model(node.label(), "needs inputs X, W and R");
  if (!dtype_is_float(x->dtype()) || w->dtype() != x->dtype() || r->dtype() != x->dtype())
    return invalid_model(node.label(), "X, W, R must share a float dtype, got ", x->describe(), ", ",
                         w->describe(), ", ", r->describe());
  if (x->rank() != 3 || w->rank() != 3 || r->rank() != 3)
    return invalid_model(node.label(), "X, W, R must be 3-D, got ", x->describe(), ", ", w->describe(), ", ",
                         r->describe());
  const int64_t layout = node.attr_int("layout", 0);
  if (layout != 0 && layout != 1) return invalid_model(node.label(), "layout must be 0 or 1, got ", layout);
  cfg.batch_first = layout == 1;
  cfg.seq = x->dim(cfg.batch_first ? 1 : 0);
  cfg.batch = x->dim(cfg.batch_first ? 0 : 1);
  cfg.input = x->dim(2);
  cfg.dirs = w->dim(0);
  cfg.hidden = r->dim(2);

  const std::string direction = node.attr_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    return invalid_model(node.label(), "unknown direction '", direction, "'");
  cfg.reverse = direction == "reverse";
  const int64_t expected_dirs = direction == "bidirectional" ? 2 : 1;
  if (cfg.dirs != expected_dirs)
    return invalid_model(node.label(), "direction '", direction, "' needs ", expected_dirs,
                         " directions in W, got ", w->describe());
  if (node.has_attr("hidden_size") && node.attr_int("hidden_size", 0) != cfg.hidden)
    return invalid_model(node.label(), "hidden_size ", node.attr_int("hidden_size", 0),
                         " does not match R ", r->describe());
  auto rows = checked_mul(cfg.gates, cfg.hidden);
  auto bias = rows ? checked_mul(*rows, 2) : std::nullopt;
  if (!rows || !bias) return invalid_model(node.label(), "hidden size ", cfg.hidden, " too large");
  ISKRA_RETURN_IF_ERROR(check_dims(node, w, "W", {cfg.dirs, *rows, cfg.input}));
  ISKRA_RETURN_IF_ERROR(check_dims(node, r, "R", {cfg.dirs, *rows, cfg.hidden}));
  ISKRA_RETURN_IF_ERROR(check_dims(node, optional_input(inputs, kInB), "B", {cfg.dirs, *bias}));
  const Shape state = cfg.batch_first ? Shape{cfg.batch, cfg.dirs, cfg.hidden} : Shape{cfg.dirs, cfg.batch, cfg.hidden};
  ISKRA_RETURN_IF_ERROR(check_dims(node, optional_input(inputs, kInInitialH), "initial_h", state));
  if (kind == CellKind::kLstm) {
    ISKRA_RETURN_IF_ERROR(check_dims(node, optional_input(inputs, kInInitialC), "initial_c", state));
    ISKRA_RETURN_IF_ERROR(check_dims(node, optional_input(inputs, kInPeephole), "P", {cfg.dirs, 3 * cfg.hidden}));
  }
  const size_t last_input = kind == CellKind::kLstm ? kInPeephole : kInInitialH;
  for (size_t i = kInB; i <= last_input; ++i) {
    const Tensor* t = optional_input(inputs, i);
    if (t && i != kInSeqLens && t->dtype() != x->dtype())
      return invalid_model(node.label(), "input ", i, " must have dtype ", dtype_name(x->dtype()), ", got ",
                           t->describe());
  }
  if (const Tensor* lens = optional_input(inputs, kInSeqLens)) {
    if (!dtype_is_integer(lens->dtype())) return invalid_model(node.label(), "sequence_lens must be integer");
    ISKRA_RETURN_IF_ERROR(check_dims(node, lens, "sequence_lens", {cfg.batch}));
  }

  if (node.has_attr("clip")) {
    const float clip = node.attr_float("clip", 0.0f);
    if (!(clip > 0)) return invalid_model(node.label(), "clip must be positive, got ", clip);
    cfg.clip = clip;
  }
  cfg.input_forget = node.attr_int("input_forget", 0) != 0;
  cfg.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;

  std::vector<std::string> names;
  if (const auto it = node.attrs.find("activations"); it != node.attrs.end()) {
    const auto* list = std::get_if<std::vector<std::string>>(&it->second);
    if (!list) return invalid_model(node.label(), "attribute 'activations' must be a list of strings");
    names = *list;
  } else if (kind == CellKind::kRnn) {
    names = {"Tanh"};
  } else if (kind == CellKind::kGru) {
    names = {"Sigmoid", "Tanh"};
  } else {
    names = {"Sigmoid", "Tanh", "Tanh"};
  }
  // One set given for a bidirectional op applies to both directions.
  if (names.size() == cfg.acts_per_dir && cfg.dirs == 2) {
    const std::vector<std::string> once = names;
    names.insert(names.end(), once.begin(), once.end());
  }
  if (names.size() != cfg.acts_per_dir * static_cast<size_t>(cfg.dirs))
    return invalid_model(node.label(), "expected ", cfg.acts_per_dir * static_cast<size_t>(cfg.dirs),
                         " activations, got ", names.size());
  ISKRA_ASSIGN_OR_RETURN(cfg.acts, parse_activations(node, names));
  return cfg;
}

Status infer_cell(InferContext& ctx, CellKind kind) {
  const std::vector<const Tensor*> inputs = input_ptrs(ctx);
  ISKRA_ASSIGN_OR_RETURN(CellConfig cfg, parse_cell(ctx.node(), inputs, kind));
  const DType dtype = ctx.dtype(kInX);
  const Shape y = cfg.batch_first ? Shape{cfg.batch, cfg.seq, cfg.dirs, cfg.hidden}
                                  : Shape{cfg.seq, cfg.dirs, cfg.batch, cfg.hidden};
  const Shape state = cfg.batch_first ? Shape{cfg.batch, cfg.dirs, cfg.hidden} : Shape{cfg.dirs, cfg.batch, cfg.hidden};
  const size_t max_outputs = kind == CellKind::kLstm ? 3 : 2;
  if (ctx.output_count() > max_outputs) return ctx.error("has too many outputs");
  ctx.set_output(0, dtype, y);
  for (size_t o = 1; o < ctx.output_count(); ++o) ctx.set_output(o, dtype, state);
  return Status::ok();
}

// The inputs of one cell run, converted to double and in layout 0 order.
struct CellData {
  std::vector<double> x;      // [seq, batch, input]
  std::vector<double> w, r;   // as stored
  std::vector<double> b;      // [dirs, 2*gates*hidden], zeros if absent
  std::vector<double> h0, c0; // [dirs, batch, hidden], zeros if absent
  std::vector<double> p;      // [dirs, 3*hidden], zeros if absent
  std::vector<int64_t> lens;  // [batch]
};

// A tensor's values, or `count_if_absent` zeros for an absent optional input.
std::vector<double> read_or_zeros(const Tensor* t, size_t count_if_absent) {
  return t ? read_all(*t) : std::vector<double>(count_if_absent, 0.0);
}

// Swaps the first two dims of a [a, b, c] array.
std::vector<double> swap_leading(const std::vector<double>& in, int64_t a, int64_t b, int64_t c) {
  std::vector<double> out(in.size());
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t k = 0; k < c; ++k) out[static_cast<size_t>((j * a + i) * c + k)] = in[static_cast<size_t>((i * b + j) * c + k)];
  return out;
}

// out[rows] += M[rows, cols] * v[cols].
void add_matvec(const double* m, int64_t rows, int64_t cols, const double* v, double* out) {
  for (int64_t i = 0; i < rows; ++i) {
    double acc = 0;
    for (int64_t k = 0; k < cols; ++k) acc += m[i * cols + k] * v[k];
    out[i] += acc;
  }
}

// One time step of one direction for one batch row: updates h (and c).
void cell_step(const CellConfig& cfg, const CellData& d, int64_t dir, const double* x, std::vector<double>& h,
               std::vector<double>& c) {
  const int64_t H = cfg.hidden, rows = cfg.gates * H;
  const double* w = d.w.data() + dir * rows * cfg.input;
  const double* r = d.r.data() + dir * rows * H;
  const double* wb = d.b.data() + dir * 2 * rows;
  const double* rb = wb + rows;
  const Activation* act = cfg.acts.data() + static_cast<size_t>(dir) * cfg.acts_per_dir;
  // Activation k of this direction, on its clipped gate input.
  auto f = [&](size_t k, double v) { return act[k](cfg.clip ? std::clamp(v, -*cfg.clip, *cfg.clip) : v); };

  // Input contribution of every gate: W x + Wb.
  std::vector<double> wx(wb, wb + rows);
  add_matvec(w, rows, cfg.input, x, wx.data());
  // Recurrent contribution: R h + Rb (GRU's h gate is handled below).
  std::vector<double> rh(rb, rb + rows);
  add_matvec(r, rows, H, h.data(), rh.data());

  std::vector<double> next(static_cast<size_t>(H));
  switch (cfg.kind) {
    case CellKind::kRnn:
      for (int64_t j = 0; j < H; ++j) next[j] = f(0, wx[j] + rh[j]);
      break;
    case CellKind::kGru: {  // gates z, r, h
      std::vector<double> z(H), reset(H);
      for (int64_t j = 0; j < H; ++j) {
        z[j] = f(0, wx[j] + rh[j]);
        reset[j] = f(0, wx[H + j] + rh[H + j]);
      }
      std::vector<double> candidate_in(static_cast<size_t>(H));
      if (cfg.linear_before_reset) {
        for (int64_t j = 0; j < H; ++j) candidate_in[j] = wx[2 * H + j] + reset[j] * rh[2 * H + j];
      } else {
        std::vector<double> reset_h(H);
        for (int64_t j = 0; j < H; ++j) reset_h[j] = reset[j] * h[j];
        for (int64_t j = 0; j < H; ++j) candidate_in[j] = wx[2 * H + j] + rb[2 * H + j];
        add_matvec(r + 2 * H * H, H, H, reset_h.data(), candidate_in.data());
      }
      for (int64_t j = 0; j < H; ++j) {
        const double candidate = f(1, candidate_in[j]);
        next[j] = (1 - z[j]) * candidate + z[j] * h[j];
      }
      break;
    }
    case CellKind::kLstm: {  // gates i, o, f, c; peepholes i, o, f
      const double* p = d.p.data() + dir * 3 * H;
      for (int64_t j = 0; j < H; ++j) {
        const double input_gate = f(0, wx[j] + rh[j] + p[j] * c[j]);
        const double forget_gate = cfg.input_forget ? 1 - input_gate : f(0, wx[2 * H + j] + rh[2 * H + j] + p[2 * H + j] * c[j]);
        const double cell_gate = f(1, wx[3 * H + j] + rh[3 * H + j]);
        c[j] = forget_gate * c[j] + input_gate * cell_gate;
        const double output_gate = f(0, wx[H + j] + rh[H + j] + p[H + j] * c[j]);
        next[j] = output_gate * act[2](c[j]);  // onnxruntime does not clip the cell state
      }
      break;
    }
  }
  h = std::move(next);
}

Status run_cell(KernelContext& ctx, CellKind kind) {
  ISKRA_ASSIGN_OR_RETURN(CellConfig cfg, parse_cell(ctx.node, ctx.inputs, kind));
  const int64_t S = cfg.seq, B = cfg.batch, H = cfg.hidden, D = cfg.dirs;
  CellData d;
  d.x = read_all(ctx.input(kInX));
  if (cfg.batch_first) d.x = swap_leading(d.x, B, S, cfg.input);
  d.w = read_all(ctx.input(kInW));
  d.r = read_all(ctx.input(kInR));
  const size_t state_size = static_cast<size_t>(D * B * H);
  d.b = read_or_zeros(optional_input(ctx.inputs, kInB), static_cast<size_t>(D * 2 * cfg.gates * H));
  d.h0 = read_or_zeros(optional_input(ctx.inputs, kInInitialH), state_size);
  if (cfg.kind == CellKind::kLstm) {
    d.c0 = read_or_zeros(optional_input(ctx.inputs, kInInitialC), state_size);
    d.p = read_or_zeros(optional_input(ctx.inputs, kInPeephole), static_cast<size_t>(D * 3 * H));
  }
  if (cfg.batch_first) {
    if (ctx.has_input(kInInitialH)) d.h0 = swap_leading(d.h0, B, D, H);
    if (ctx.has_input(kInInitialC) && cfg.kind == CellKind::kLstm) d.c0 = swap_leading(d.c0, B, D, H);
  }
  d.lens.assign(static_cast<size_t>(B), S);
  if (const Tensor* lens = optional_input(ctx.inputs, kInSeqLens)) {
    for (int64_t b = 0; b < B; ++b) {
      d.lens[b] = tensor_int_at(*lens, b);
      if (d.lens[b] < 0 || d.lens[b] > S)
        return ctx.error("sequence_lens[", b, "] = ", d.lens[b], " is outside [0, ", S, "]");
    }
  }

  // Results in layout 0: y [S, D, B, H], final states [D, B, H].
  std::vector<double> y(static_cast<size_t>(S * D * B * H), 0.0), y_h(state_size, 0.0), y_c(state_size, 0.0);
  for (int64_t dir = 0; dir < D; ++dir) {
    const bool reverse = cfg.reverse || dir == 1;
    for (int64_t b = 0; b < B; ++b) {
      const size_t state_at = static_cast<size_t>((dir * B + b) * H);
      std::vector<double> h(d.h0.begin() + state_at, d.h0.begin() + state_at + H);
      std::vector<double> c(H, 0.0);
      if (cfg.kind == CellKind::kLstm) c.assign(d.c0.begin() + state_at, d.c0.begin() + state_at + H);
      const int64_t len = d.lens[b];
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = reverse ? len - 1 - step : step;
        cell_step(cfg, d, dir, d.x.data() + (t * B + b) * cfg.input, h, c);
        std::copy(h.begin(), h.end(), y.begin() + ((t * D + dir) * B + b) * H);
      }
      if (len > 0) {
        std::copy(h.begin(), h.end(), y_h.begin() + state_at);
        std::copy(c.begin(), c.end(), y_c.begin() + state_at);
      }
    }
  }

  if (cfg.batch_first) {  // Y [S, D, B, H] -> [B, S, D, H]; states [D, B, H] -> [B, D, H]
    std::vector<double> y_bf(y.size());
    for (int64_t t = 0; t < S; ++t)
      for (int64_t dir = 0; dir < D; ++dir)
        for (int64_t b = 0; b < B; ++b)
          std::copy_n(y.begin() + ((t * D + dir) * B + b) * H, H, y_bf.begin() + ((b * S + t) * D + dir) * H);
    y = std::move(y_bf);
    y_h = swap_leading(y_h, D, B, H);
    y_c = swap_leading(y_c, D, B, H);
  }
  ISKRA_RETURN_IF_ERROR(write_all(ctx, ctx.output(0), y));
  if (ctx.outputs.size() > 1) ISKRA_RETURN_IF_ERROR(write_all(ctx, ctx.output(1), y_h));
  if (ctx.outputs.size() > 2) ISKRA_RETURN_IF_ERROR(write_all(ctx, ctx.output(2), y_c));
  return Status::ok();
}

}  // namespace

// RNN: Ht = f(Xt W^T + Ht-1 R^T + Wb + Rb).
Status infer_rnn(InferContext& ctx) { return infer_cell(ctx, CellKind::kRnn); }
Status run_rnn(KernelContext& ctx) { return run_cell(ctx, CellKind::kRnn); }
// GRU: update gate z, reset gate r, candidate h (linear_before_reset picks where r applies).
Status infer_gru(InferContext& ctx) { return infer_cell(ctx, CellKind::kGru); }
Status run_gru(KernelContext& ctx) { return run_cell(ctx, CellKind::kGru); }
// LSTM: gates i, o, f, c with optional peepholes, clip and coupled input/forget.
Status infer_lstm(InferContext& ctx) { return infer_cell(ctx, CellKind::kLstm); }
Status run_lstm(KernelContext& ctx) { return run_cell(ctx, CellKind::kLstm); }

// ---------------------------------------------------------------------------
// Attention (opset 25) and RotaryEmbedding (opset 23).
//
// Intermediate results are rounded to the input dtype where the ONNX
// reference rounds them (scaled Q and K, QK, softcap, biased scores, softmax
// probabilities, the output), so f16/bf16 results track the reference; the
// sums themselves run in double.

namespace {

constexpr size_t kInQ = 0, kInK = 1, kInV = 2, kInMask = 3, kInPastKey = 4, kInPastValue = 5, kInNonpad = 6;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct AttentionConfig {
  bool rank3 = false;
  int64_t batch = 0, q_heads = 0, kv_heads = 0, q_len = 0, kv_len = 0, past_len = 0;
  int64_t head_size = 0, v_head_size = 0;
  int64_t total_len() const { return past_len + kv_len; }
  Shape mask_dims;  // the mask shape right-aligned to 4 dims; empty without a mask
  bool causal = false;
  int64_t left_window = -1, right_window = -1;
  double scale = 0;    // applied as sqrt(scale) to Q and K
  double softcap = 0;  // 0: none
  int64_t qk_mode = 0;
  DType softmax_dtype = DType::kUndefined;  // kUndefined: the Q dtype
};

Result<AttentionConfig> parse_attention(const Node& node, std::span<const Tensor* const> inputs) {
  auto err = [&](auto... args) { return invalid_model(node.label(), args...); };
  const Tensor* q = optional_input(inputs, kInQ);
  const Tensor* k = optional_input(inputs, kInK);
  const Tensor* v = optional_input(inputs, kInV);
  if (!q || !k || !v) return err("needs inputs Q, K and V");
  if (!dtype_is_float(q->dtype()) || k->dtype() != q->dtype() || !dtype_is_float(v->dtype()))
    return err("Q and K must share a float dtype and V be float, got ", q->describe(), ", ", k->describe(), ", ",
               v->describe());
  if (q->rank() != k->rank() || q->rank() != v->rank() || (q->rank() != 3 && q->rank() != 4))
    return err("Q, K, V must all be 3-D or all 4-D, got ", q->describe(), ", ", k->describe(), ", ", v->describe());
  AttentionConfig cfg;
  cfg.rank3 = q->rank() == 3;
  cfg.batch = q->dim(0);
  if (cfg.rank3) {
    cfg.q_heads = node.attr_int("q_num_heads", 0);
    cfg.kv_heads = node.attr_int("kv_num_heads", 0);
    if (cfg.q_heads <= 0 || cfg.kv_heads <= 0) return err("3-D inputs need positive q_num_heads and kv_num_heads");
    if (q->dim(2) % cfg.q_heads != 0 || k->dim(2) % cfg.kv_heads != 0 || v->dim(2) % cfg.kv_heads != 0)
      return err("hidden sizes must be multiples of the head counts");
    cfg.q_len = q->dim(1);
    cfg.kv_len = k->dim(1);
    cfg.head_size = q->dim(2) / cfg.q_heads;
    if (k->dim(2) / cfg.kv_heads != cfg.head_size) return err("Q and K head sizes differ");
    cfg.v_head_size = v->dim(2) / cfg.kv_heads;
    if (v->dim(1) != cfg.kv_len) return err("K and V sequence lengths differ");
  } else {
    cfg.q_heads = q->dim(1);
    cfg.kv_heads = k->dim(1);
    cfg.q_len = q->dim(2);
    cfg.kv_len = k->dim(2);
    cfg.head_size = q->dim(3);
    cfg.v_head_size = v->dim(3);
    if (k->dim(3) != cfg.head_size) return err("Q and K head sizes differ");
    if (v->dim(1) != cfg.kv_heads || v->dim(2) != cfg.kv_len) return err("K and V shapes disagree");
  }
  if (k->dim(0) != cfg.batch || v->dim(0) != cfg.batch) return err("Q, K, V batch sizes differ");
  if (cfg.kv_heads <= 0 || cfg.q_heads % cfg.kv_heads != 0)
    return err("q heads ", cfg.q_heads, " must be a multiple of kv heads ", cfg.kv_heads);

  const Tensor* past_key = optional_input(inputs, kInPastKey);
  const Tensor* past_value = optional_input(inputs, kInPastValue);
  if ((past_key == nullptr) != (past_value == nullptr)) return err("past_key and past_value go together");
  if (past_key) {
    cfg.past_len = past_key->rank() == 4 ? past_key->dim(2) : -1;
    if (past_key->shape() != Shape{cfg.batch, cfg.kv_heads, cfg.past_len, cfg.head_size} ||
        past_value->shape() != Shape{cfg.batch, cfg.kv_heads, cfg.past_len, cfg.v_head_size} ||
        past_key->dtype() != q->dtype() || past_value->dtype() != v->dtype())
      return err("past_key/past_value must be [batch, kv_heads, past, head_size] of the K/V dtypes, got ",
                 past_key->describe(), " and ", past_value->describe());
  }
  if (const Tensor* nonpad = optional_input(inputs, kInNonpad)) {
    if (past_key) return err("nonpad_kv_seqlen cannot be combined with past_key/past_value");
    if (!dtype_is_integer(nonpad->dtype()) || nonpad->shape() != Shape{cfg.batch})
      return err("nonpad_kv_seqlen must be integer [batch], got ", nonpad->describe());
  }
  if (const Tensor* mask = optional_input(inputs, kInMask)) {
    if (mask->rank() < 1 || mask->rank() > 4 || mask->dtype() == DType::kString)
      return err("attn_mask must have rank 1 to 4, got ", mask->describe());
    cfg.mask_dims.assign(static_cast<size_t>(4 - mask->rank()), 1);
    cfg.mask_dims.insert(cfg.mask_dims.end(), mask->shape().begin(), mask->shape().end());
    const int64_t full[4] = {cfg.batch, cfg.q_heads, cfg.q_len, cfg.total_len()};
    for (size_t d = 0; d < 3; ++d)
      if (cfg.mask_dims[d] != 1 && cfg.mask_dims[d] != full[d])
        return err("attn_mask ", mask->describe(), " does not broadcast to [", full[0], ",", full[1], ",", full[2],
                   ",", full[3], "]");
    if (cfg.mask_dims[3] > cfg.total_len())
      return err("attn_mask ", mask->describe(), " is longer than the ", cfg.total_len(), " keys");
  }
  cfg.causal = node.attr_int("is_causal", 0) != 0;
  cfg.left_window = node.attr_int("left_window_size", -1);
  cfg.right_window = node.attr_int("right_window_size", -1);
  if (cfg.left_window < -1 || cfg.right_window < -1) return err("window sizes must be >= -1");
  cfg.scale = node.has_attr("scale") ? node.attr_float("scale", 1.0f)
                                     : 1.0 / std::sqrt(static_cast<double>(cfg.head_size));
  cfg.softcap = node.attr_float("softcap", 0.0f);
  cfg.qk_mode = node.attr_int("qk_matmul_output_mode", 0);
  if (cfg.qk_mode < 0 || cfg.qk_mode > 3) return err("qk_matmul_output_mode must be 0..3, got ", cfg.qk_mode);
  if (node.has_attr("softmax_precision")) {
    cfg.softmax_dtype = static_cast<DType>(node.attr_int("softmax_precision", 1));
    if (!dtype_is_float(cfg.softmax_dtype))
      return err("softmax_precision must be a float dtype, got ", node.attr_int("softmax_precision", 1));
  }
  return cfg;
}

// Reads a Q/K/V tensor as [batch, heads, seq, head_size] (3-D inputs are
// [batch, seq, heads * head_size]).
std::vector<double> read_heads(const Tensor& t, bool rank3, int64_t heads) {
  std::vector<double> data = read_all(t);
  if (!rank3) return data;
  const int64_t batch = t.dim(0), seq = t.dim(1), size = t.dim(2) / heads;
  std::vector<double> out(data.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t h = 0; h < heads; ++h)
        std::copy_n(data.begin() + ((b * seq + s) * heads + h) * size, size, out.begin() + ((b * heads + h) * seq + s) * size);
  return out;
}

// Concatenates past [batch, heads, past, size] and new [batch, heads, seq, size] along the sequence.
std::vector<double> concat_cache(const std::vector<double>& past, const std::vector<double>& now, int64_t batch,
                                 int64_t heads, int64_t past_len, int64_t len, int64_t size) {
  std::vector<double> out(static_cast<size_t>(batch * heads * (past_len + len) * size));
  for (int64_t bh = 0; bh < batch * heads; ++bh) {
    auto dst = out.begin() + bh * (past_len + len) * size;
    dst = std::copy_n(past.begin() + bh * past_len * size, past_len * size, dst);
    std::copy_n(now.begin() + bh * len * size, len * size, dst);
  }
  return out;
}

// The additive bias of score (b, h, i, j): attn_mask (bool: 0 / -inf; shorter
// than the keys: -inf past its end), the causal frontier j <= i + offset, the
// sliding window around p = i + offset, and the nonpad_kv_seqlen padding.
double attention_bias(const AttentionConfig& cfg, const Tensor* mask, const Tensor* nonpad, int64_t b, int64_t h,
                      int64_t i, int64_t j) {
  double bias = 0.0;
  if (mask) {
    if (j >= cfg.mask_dims[3] && cfg.mask_dims[3] < cfg.total_len()) {
      bias = kNegInf;
    } else {
      const int64_t idx[4] = {b, h, i, j};
      int64_t offset = 0;
      for (size_t d = 0; d < 4; ++d) offset = offset * cfg.mask_dims[d] + (cfg.mask_dims[d] == 1 ? 0 : idx[d]);
      bias = mask->dtype() == DType::kBool ? (tensor_int_at(*mask, offset) ? 0.0 : kNegInf)
                                           : tensor_double_at(*mask, offset);
    }
  }
  const int64_t nonpad_len = nonpad ? tensor_int_at(*nonpad, b) : cfg.total_len();
  // Keys that precede this query block: the past cache, or the external cache's valid keys.
  const int64_t offset = nonpad ? nonpad_len - cfg.q_len : cfg.past_len;
  const int64_t diff = i + offset - j;
  if (cfg.causal && diff < 0) bias = kNegInf;
  if (cfg.left_window >= 0 && diff > cfg.left_window) bias = kNegInf;
  if (cfg.right_window >= 0 && -diff > cfg.right_window) bias = kNegInf;
  if (nonpad && j >= nonpad_len) bias = kNegInf;
  return bias;
}

}  // namespace

Status infer_attention(InferContext& ctx) {
  const std::vector<const Tensor*> inputs = input_ptrs(ctx);
  ISKRA_ASSIGN_OR_RETURN(AttentionConfig cfg, parse_attention(ctx.node(), inputs));
  if (ctx.output_count() > 4) return ctx.error("has too many outputs");
  const DType qt = ctx.dtype(kInQ), vt = ctx.dtype(kInV);
  if (cfg.rank3) ctx.set_output(0, qt, {cfg.batch, cfg.q_len, cfg.q_heads * cfg.v_head_size});
  else ctx.set_output(0, qt, {cfg.batch, cfg.q_heads, cfg.q_len, cfg.v_head_size});
  ctx.set_output(1, qt, {cfg.batch, cfg.kv_heads, cfg.total_len(), cfg.head_size});
  ctx.set_output(2, vt, {cfg.batch, cfg.kv_heads, cfg.total_len(), cfg.v_head_size});
  ctx.set_output(3, qt, {cfg.batch, cfg.q_heads, cfg.q_len, cfg.total_len()});
  return Status::ok();
}

// Attention: softmax(softcap(Q K^T * scale) + bias) V with grouped KV heads and
// an optional KV cache; fully masked rows give zeros.
Status run_attention(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(AttentionConfig cfg, parse_attention(ctx.node, ctx.inputs));
  const DType qt = ctx.input(kInQ).dtype();
  auto rt = [&](double v) { return round_as(qt, v); };
  const int64_t B = cfg.batch, Hq = cfg.q_heads, Hkv = cfg.kv_heads, Sq = cfg.q_len, L = cfg.total_len();
  const int64_t D = cfg.head_size, Dv = cfg.v_head_size;
  const std::vector<double> q = read_heads(ctx.input(kInQ), cfg.rank3, Hq);
  std::vector<double> k = read_heads(ctx.input(kInK), cfg.rank3, Hkv);
  std::vector<double> v = read_heads(ctx.input(kInV), cfg.rank3, Hkv);
  if (cfg.past_len > 0 || ctx.has_input(kInPastKey)) {
    k = concat_cache(read_all(ctx.input(kInPastKey)), k, B, Hkv, cfg.past_len, cfg.kv_len, D);
    v = concat_cache(read_all(ctx.input(kInPastValue)), v, B, Hkv, cfg.past_len, cfg.kv_len, Dv);
  }
  const Tensor* mask = ctx.has_input(kInMask) ? &ctx.input(kInMask) : nullptr;
  const Tensor* nonpad = ctx.has_input(kInNonpad) ? &ctx.input(kInNonpad) : nullptr;
  const double scale = rt(std::sqrt(cfg.scale));
  const DType softmax_dtype = cfg.softmax_dtype == DType::kUndefined ? qt : cfg.softmax_dtype;

  std::vector<double> y(static_cast<size_t>(B * Hq * Sq * Dv)), qk_out(static_cast<size_t>(B * Hq * Sq * L));
  std::vector<double> scores(static_cast<size_t>(L)), bias(static_cast<size_t>(L)), probs(static_cast<size_t>(L));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kv_h = h / (Hq / Hkv);
      const double* kb = k.data() + (b * Hkv + kv_h) * L * D;
      const double* vb = v.data() + (b * Hkv + kv_h) * L * Dv;
      for (int64_t i = 0; i < Sq; ++i) {
        const double* qi = q.data() + ((b * Hq + h) * Sq + i) * D;
        double* qk_row = qk_out.data() + ((b * Hq + h) * Sq + i) * L;
        bool all_masked = true;
        for (int64_t j = 0; j < L; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += rt(qi[d] * scale) * rt(kb[j * D + d] * scale);
          double s = rt(dot);
          if (cfg.softcap > 0) s = rt(rt(std::tanh(rt(s / cfg.softcap))) * cfg.softcap);
          bias[j] = attention_bias(cfg, mask, nonpad, b, h, i, j);
          all_masked = all_masked && bias[j] == kNegInf;
          scores[j] = round_as(softmax_dtype, rt(s + bias[j]));
          qk_row[j] = cfg.qk_mode == 2 ? rt(s + bias[j]) : s;
        }
        // Softmax in softmax_dtype; an all -inf row gives zeros, not NaN.
        double max_score = kNegInf;
        for (double s : scores) max_score = std::max(max_score, s);
        if (max_score == kNegInf) max_score = 0;
        double sum = 0;  // accumulated in softmax_dtype, as numpy sums a bf16 row
        for (int64_t j = 0; j < L; ++j) {
          probs[j] = round_as(softmax_dtype, std::exp(round_as(softmax_dtype, scores[j] - max_score)));
          sum = round_as(softmax_dtype, sum + probs[j]);
        }
        if (sum == 0) sum = 1;
        for (int64_t j = 0; j < L; ++j) probs[j] = all_masked ? 0.0 : rt(round_as(softmax_dtype, probs[j] / sum));
        if (cfg.qk_mode == 3) std::copy(probs.begin(), probs.end(), qk_row);
        double* yi = y.data() + ((b * Hq + h) * Sq + i) * Dv;
        for (int64_t e = 0; e < Dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < L; ++j) acc += probs[j] * vb[j * Dv + e];
          yi[e] = acc;
        }
      }
    }
  if (cfg.rank3) {  // [B, Hq, Sq, Dv] -> [B, Sq, Hq * Dv]
    std::vector<double> y3(y.size());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < Hq; ++h)
        for (int64_t i = 0; i < Sq; ++i)
          std::copy_n(y.begin() + ((b * Hq + h) * Sq + i) * Dv, Dv, y3.begin() + ((b * Sq + i) * Hq + h) * Dv);
    y = std::move(y3);
  }
  ISKRA_RETURN_IF_ERROR(write_all(ctx, ctx.output(0), y));
  if (ctx.outputs.size() > 1) ISKRA_RETURN_IF_ERROR(write_all(ctx, ctx.output(1), k));
  if (ctx.outputs.size() > 2) ISKRA_RETURN_IF_ERROR(write_all(ctx, ctx.output(2), v));
  if (ctx.outputs.size() > 3) ISKRA_RETURN_IF_ERROR(write_all(ctx, ctx.output(3), qk_out));
  return Status::ok();
}

namespace {

struct RotaryConfig {
  bool rank3 = false;
  int64_t batch = 0, heads = 0, seq = 0, head_size = 0, rotary_dim = 0;
  bool interleaved = false, has_positions = false;
};

Result<RotaryConfig> parse_rotary(const Node& node, std::span<const Tensor* const> inputs) {
  auto err = [&](auto... args) { return invalid_model(node.label(), args...); };
  const Tensor* x = optional_input(inputs, 0);
  const Tensor* cos = optional_input(inputs, 1);
  const Tensor* sin = optional_input(inputs, 2);
  const Tensor* positions = optional_input(inputs, 3);
  if (!x || !cos || !sin) return err("needs inputs X, cos_cache and sin_cache");
  if (!dtype_is_float(x->dtype()) || cos->dtype() != x->dtype() || sin->dtype() != x->dtype())
    return err("X, cos_cache, sin_cache must share a float dtype");
  RotaryConfig cfg;
  cfg.rank3 = x->rank() == 3;
  if (x->rank() != 3 && x->rank() != 4) return err("X must be 3-D or 4-D, got ", x->describe());
  cfg.batch = x->dim(0);
  if (cfg.rank3) {
    cfg.heads = node.attr_int("num_heads", 0);
    if (cfg.heads <= 0 || x->dim(2) % cfg.heads != 0) return err("3-D X needs num_heads dividing its hidden size");
    cfg.seq = x->dim(1);
    cfg.head_size = x->dim(2) / cfg.heads;
  } else {
    cfg.heads = x->dim(1);
    cfg.seq = x->dim(2);
    cfg.head_size = x->dim(3);
  }
  cfg.rotary_dim = node.attr_int("rotary_embedding_dim", 0);
  if (cfg.rotary_dim == 0) cfg.rotary_dim = cfg.head_size;
  if (cfg.rotary_dim < 0 || cfg.rotary_dim > cfg.head_size || cfg.rotary_dim % 2 != 0)
    return err("rotary_embedding_dim ", cfg.rotary_dim, " must be even and <= head size ", cfg.head_size);
  cfg.interleaved = node.attr_int("interleaved", 0) != 0;
  cfg.has_positions = positions != nullptr;
  const int64_t half = cfg.rotary_dim / 2;
  if (positions) {
    if (!dtype_is_integer(positions->dtype()) || positions->shape() != Shape{cfg.batch, cfg.seq})
      return err("position_ids must be integer [batch, seq], got ", positions->describe());
    if (cos->rank() != 2 || cos->dim(1) != half || sin->shape() != cos->shape())
      return err("caches must be [max_position, ", half, "], got ", cos->describe(), " and ", sin->describe());
  } else if (cos->shape() != Shape{cfg.batch, cfg.seq, half} || sin->shape() != cos->shape()) {
    return err("caches must be [", cfg.batch, ", ", cfg.seq, ", ", half, "], got ", cos->describe(), " and ",
               sin->describe());
  }
  return cfg;
}

}  // namespace

Status infer_rotary_embedding(InferContext& ctx) {
  const std::vector<const Tensor*> inputs = input_ptrs(ctx);
  ISKRA_RETURN_IF_ERROR(parse_rotary(ctx.node(), inputs).status());
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

// RotaryEmbedding: rotates pairs (x1, x2) of the first rotary_dim features of
// each head by the cached angle of its position: halves or interleaved pairs.
Status run_rotary_embedding(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(RotaryConfig cfg, parse_rotary(ctx.node, ctx.inputs));
  const DType dtype = ctx.input(0).dtype();
  auto rt = [&](double v) { return round_as(dtype, v); };
  std::vector<double> x = read_all(ctx.input(0));
  const std::vector<double> cos = read_all(ctx.input(1)), sin = read_all(ctx.input(2));
  const int64_t half = cfg.rotary_dim / 2, max_position = cfg.has_positions ? ctx.input(1).dim(0) : 0;
  for (int64_t b = 0; b < cfg.batch; ++b)
    for (int64_t s = 0; s < cfg.seq; ++s) {
      int64_t row = b * cfg.seq + s;  // cache row
      if (cfg.has_positions) {
        row = tensor_int_at(ctx.input(3), b * cfg.seq + s);
        if (row < 0 || row >= max_position)
          return ctx.error("position_ids[", b, ",", s, "] = ", row, " is outside [0, ", max_position, ")");
      }
      for (int64_t h = 0; h < cfg.heads; ++h) {
        double* head = x.data() + (cfg.rank3 ? (b * cfg.seq + s) * cfg.heads + h : (b * cfg.heads + h) * cfg.seq + s) *
                                      cfg.head_size;
        for (int64_t k = 0; k < half; ++k) {
          double& x1 = cfg.interleaved ? head[2 * k] : head[k];
          double& x2 = cfg.interleaved ? head[2 * k + 1] : head[k + half];
          const double c = cos[static_cast<size_t>(row * half + k)], sn = sin[static_cast<size_t>(row * half + k)];
          const double real = rt(rt(c * x1) - rt(sn * x2)), imag = rt(rt(sn * x1) + rt(c * x2));
          x1 = real;
          x2 = imag;
        }
      }
    }
  return write_all(ctx, ctx.output(0), x);
}

void register_rnn_ops(OpTable& table) {
  table.add(OpKind::RNN, infer_rnn, run_rnn);
  table.add(OpKind::GRU, infer_gru, run_gru);
  table.add(OpKind::LSTM, infer_lstm, run_lstm);
  table.add(OpKind::Attention, infer_attention, run_attention);
  table.add(OpKind::RotaryEmbedding, infer_rotary_embedding, run_rotary_embedding);
}

}  // namespace iskra
