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

template <typename T>
std::vector<double> to_doubles(const Tensor* t, size_t count_if_absent) {
  if (!t) return std::vector<double>(count_if_absent, 0.0);
  std::vector<double> out(static_cast<size_t>(t->element_count()));
  const T* data = t->data<T>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = convert_element<double>(data[i]);
  return out;
}

template <typename T>
void store_doubles(Tensor& out, const std::vector<double>& values) {
  T* dst = out.data<T>();
  for (size_t i = 0; i < values.size(); ++i) dst[i] = convert_element<T>(values[i]);
}

// Swaps the first two dims of a [a, b, c] array.
std::vector<double> swap_leading(const std::vector<double>& in, int64_t a, int64_t b, int64_t c) {
  std::vector<double> out(in.size());
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t k = 0; k < c; ++k) out[static_cast<size_t>((j * a + i) * c + k)] = in[static_cast<size_t>((i * b + j) * c + k)];
  return out;
}

// out[rows] = M[rows, cols] * v[cols] + out, M rows starting at `row0`.
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
  auto clip = [&](double v) { return cfg.clip ? std::clamp(v, -*cfg.clip, *cfg.clip) : v; };
  auto f = [&](size_t k, double v) { return act[k](clip(v)); };

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
        next[j] = output_gate * f(2, c[j]);
      }
      break;
    }
  }
  h = std::move(next);
}

template <typename T>
Status run_cell_typed(KernelContext& ctx, const CellConfig& cfg) {
  const int64_t S = cfg.seq, B = cfg.batch, H = cfg.hidden, D = cfg.dirs;
  CellData d;
  d.x = to_doubles<T>(&ctx.input(kInX), 0);
  if (cfg.batch_first) d.x = swap_leading(d.x, B, S, cfg.input);
  d.w = to_doubles<T>(&ctx.input(kInW), 0);
  d.r = to_doubles<T>(&ctx.input(kInR), 0);
  const size_t state_size = static_cast<size_t>(D * B * H);
  d.b = to_doubles<T>(optional_input(ctx.inputs, kInB), static_cast<size_t>(D * 2 * cfg.gates * H));
  d.h0 = to_doubles<T>(optional_input(ctx.inputs, kInInitialH), state_size);
  if (cfg.kind == CellKind::kLstm) {
    d.c0 = to_doubles<T>(optional_input(ctx.inputs, kInInitialC), state_size);
    d.p = to_doubles<T>(optional_input(ctx.inputs, kInPeephole), static_cast<size_t>(D * 3 * H));
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
  store_doubles<T>(ctx.output(0), y);
  if (ctx.outputs.size() > 1) store_doubles<T>(ctx.output(1), y_h);
  if (ctx.outputs.size() > 2) store_doubles<T>(ctx.output(2), y_c);
  return Status::ok();
}

Status run_cell(KernelContext& ctx, CellKind kind) {
  ISKRA_ASSIGN_OR_RETURN(CellConfig cfg, parse_cell(ctx.node, ctx.inputs, kind));
  return ISKRA_DISPATCH_FLOAT(ctx.input(kInX).dtype(), [&](auto tag) {
    return run_cell_typed<decltype(tag)>(ctx, cfg);
  }, ctx.unsupported_error("dtype ", dtype_name(ctx.input(kInX).dtype())));
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

void register_rnn_ops(OpTable& table) {
  table.add(OpKind::RNN, infer_rnn, run_rnn);
  table.add(OpKind::GRU, infer_gru, run_gru);
  table.add(OpKind::LSTM, infer_lstm, run_lstm);
}

}  // namespace iskra
