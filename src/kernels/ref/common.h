// Helpers shared by reference kernels and shape functions: axes, strides,
// broadcasting, and typed element access. Kept simple on purpose.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <optional>
#include <vector>

#include "base/status.h"
#include "ir/tensor.h"

namespace iskra::ref {

// Maps a possibly negative axis into [0, rank); nullopt if out of range.
inline std::optional<int> normalize_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) return std::nullopt;
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Row-major strides in elements.
inline std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i)
    strides[static_cast<size_t>(i)] = strides[static_cast<size_t>(i) + 1] * shape[static_cast<size_t>(i) + 1];
  return strides;
}

// Every offset sum(index[d] * strides[d]) for d in `dims`, in row-major order.
inline std::vector<int64_t> offsets_over(const Shape& shape, const std::vector<int64_t>& strides,
                                         const std::vector<size_t>& dims) {
  std::vector<int64_t> offsets{0};
  for (size_t d : dims) {
    std::vector<int64_t> next;
    next.reserve(offsets.size() * static_cast<size_t>(shape[d]));
    for (int64_t base : offsets)
      for (int64_t i = 0; i < shape[d]; ++i) next.push_back(base + i * strides[d]);
    offsets = std::move(next);
  }
  return offsets;
}

// Lanes: the elements of a tensor grouped by the index over the axes NOT in
// `grouped` (as a reduction groups them). Element j of lane i is at offset
// base[i] + member[j]; lanes come in row-major order of the other axes.
struct Lanes {
  std::vector<int64_t> base;
  std::vector<int64_t> member;
};

inline Lanes make_lanes(const Shape& shape, const std::vector<bool>& grouped) {
  std::vector<size_t> outer, inner;
  for (size_t d = 0; d < shape.size(); ++d) (grouped[d] ? inner : outer).push_back(d);
  const std::vector<int64_t> strides = strides_of(shape);
  return Lanes{offsets_over(shape, strides, outer), offsets_over(shape, strides, inner)};
}

// Numpy-style multidirectional broadcast of two shapes; nullopt if incompatible.
inline std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else return std::nullopt;
  }
  return out;
}

// Strides to read an input of shape `in` broadcast to `out` (0 on broadcast dims).
inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  std::vector<int64_t> in_strides = strides_of(in);
  const size_t offset = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    strides[offset + i] = in[i] == 1 ? 0 : in_strides[i];
  return strides;
}

// Walks every index of `shape` in row-major order, tracking the flat offset
// into each of N operands through their (possibly broadcast) strides.
template <size_t N>
class StridedIndexer {
 public:
  StridedIndexer(const Shape& shape, const std::array<std::vector<int64_t>, N>& strides)
      : shape_(shape), strides_(strides), index_(shape.size(), 0) {}

  // Offset of operand k at the current index.
  int64_t offset(size_t k) const { return offsets_[k]; }
  // Advances to the next index (row-major).
  void next() {
    for (int d = static_cast<int>(shape_.size()) - 1; d >= 0; --d) {
      const size_t du = static_cast<size_t>(d);
      if (++index_[du] < shape_[du]) {
        for (size_t k = 0; k < N; ++k) offsets_[k] += strides_[k][du];
        return;
      }
      for (size_t k = 0; k < N; ++k) offsets_[k] -= strides_[k][du] * (shape_[du] - 1);
      index_[du] = 0;
    }
  }

 private:
  const Shape& shape_;
  std::array<std::vector<int64_t>, N> strides_;
  std::vector<int64_t> index_;
  std::array<int64_t, N> offsets_{};
};

// Converts between element types through float/double for the storage types.
template <typename To, typename From>
inline To convert_element(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, Float16> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(v));
  } else if constexpr (std::is_same_v<From, Float16> || std::is_same_v<From, BFloat16>) {
    return static_cast<To>(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

// How saturate_from_double turns a real value into an integer.
enum class IntRounding { kTruncate, kHalfToEven };

// Converts a computed double to element type T, defined for every input
// (where a plain C++ cast is undefined behaviour): floats round to nearest,
// bool is v != 0, integers truncate toward zero (or round half to even) and
// saturate to T's range, NaN giving 0.
template <typename T, IntRounding kRounding = IntRounding::kTruncate>
T saturate_from_double(double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return T{0};
    const double r = kRounding == IntRounding::kHalfToEven ? std::nearbyint(v) : std::trunc(v);
    if (r <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (r >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(r);
  } else {
    return convert_element<T>(v);
  }
}

// Compute type for arithmetic on a storage type: float for f16/bf16.
template <typename T> struct ComputeType { using type = T; };
template <> struct ComputeType<Float16> { using type = float; };
template <> struct ComputeType<BFloat16> { using type = float; };
template <typename T> using compute_t = typename ComputeType<T>::type;

}  // namespace iskra::ref
