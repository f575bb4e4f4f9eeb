#include "op_flops.h"

namespace iskra::cli {

namespace {

// Product of shape[from..] in double: big models overflow no int64 here, and
// FLOP rates need no more precision.
double product(const Shape& shape, size_t from = 0) {
  double p = 1;
  for (size_t d = from; d < shape.size(); ++d) p *= static_cast<double>(shape[d]);
  return p;
}

const Shape* shape_at(ShapeRefs shapes, size_t i) { return i < shapes.size() ? shapes[i] : nullptr; }

// The channel axis of X: 1 in NCHW, the last one in the layout pass's NHWC ops.
size_t channel_axis(const Node& node, const Shape& x) {
  const bool channels_last = node.op == OpKind::FusedConvNhwc || node.op == OpKind::ConvTransposeNhwc;
  return channels_last ? x.size() - 1 : 1;
}

// Conv: Y[N,M,out...] = sum over C/group channels and the kernel window of
// X * W[M, C/group, k...]: prod(Y) * prod(W[1:]) multiply-adds.
std::optional<double> conv_macs(const Node& node, ShapeRefs in, ShapeRefs out) {
  const Shape *x = shape_at(in, 0), *w = shape_at(in, 1), *y = shape_at(out, 0);
  if (!x || !w || !y || w->size() < 3 || x->size() != w->size() || y->size() != w->size()) return std::nullopt;
  if ((*x)[channel_axis(node, *x)] != (*w)[1] * node.attr_int("group", 1)) return std::nullopt;
  return product(*y) * product(*w, 1);
}

// ConvTranspose: every element of X[N,C,in...] is scattered through
// W[C, M/group, k...]: prod(X) * prod(W[1:]) multiply-adds.
std::optional<double> conv_transpose_macs(const Node& node, ShapeRefs in) {
  const Shape *x = shape_at(in, 0), *w = shape_at(in, 1);
  if (!x || !w || w->size() < 3 || x->size() != w->size() || (*x)[channel_axis(node, *x)] != (*w)[0])
    return std::nullopt;
  return product(*x) * product(*w, 1);
}

// MatMul (numpy semantics, 1-D operands included): each output element is a
// dot product of length K = A's last dim.
std::optional<double> matmul_macs(ShapeRefs in, ShapeRefs out) {
  const Shape *a = shape_at(in, 0), *b = shape_at(in, 1), *y = shape_at(out, 0);
  if (!a || !b || !y || a->empty() || b->empty()) return std::nullopt;
  const int64_t k = a->back();
  if ((*b)[b->size() == 1 ? 0 : b->size() - 2] != k) return std::nullopt;
  return product(*y) * static_cast<double>(k);
}

// Gemm: Y[M,N] = op(A) op(B) (+ C), op(A) being [M,K].
std::optional<double> gemm_macs(const Node& node, ShapeRefs in, ShapeRefs out) {
  const Shape *a = shape_at(in, 0), *y = shape_at(out, 0);
  if (!a || !y || a->size() != 2 || y->size() != 2) return std::nullopt;
  const int64_t k = node.attr_int("transA", 0) ? (*a)[0] : (*a)[1];
  return product(*y) * static_cast<double>(k);
}

}  // namespace

std::optional<double> op_flops(const Node& node, ShapeRefs inputs, ShapeRefs outputs) {
  std::optional<double> macs;
  switch (node.op) {
    case OpKind::Conv:
    case OpKind::FusedConv:  // Conv + bias/sum/activation: the Conv's work
    case OpKind::FusedConvNhwc:
      macs = conv_macs(node, inputs, outputs); break;
    case OpKind::ConvTranspose:
    case OpKind::ConvTransposeNhwc: macs = conv_transpose_macs(node, inputs); break;
    case OpKind::MatMul: macs = matmul_macs(inputs, outputs); break;
    case OpKind::Gemm: macs = gemm_macs(node, inputs, outputs); break;
    default: break;
  }
  if (!macs) return std::nullopt;
  return 2 * *macs;
}

}  // namespace iskra::cli
