// Channels-last (NHWC) layouts: the permutations between NCHW and NHWC and a
// dims permutation of whole tensors, shared by the NHWC ops' reference
// kernels (kernels/ref/nhwc.cc) and the layout pass (passes/choose_layout.cc).
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "base/status.h"
#include "ir/tensor.h"

namespace iskra {

// Dim i of the result is dim perm[i] of the source.
inline constexpr std::array<int, 4> kNchwToNhwc = {0, 2, 3, 1};
inline constexpr std::array<int, 4> kNhwcToNchw = {0, 3, 1, 2};
// Where NCHW axis a sits in NHWC: kNhwcAxisOf[a].
inline constexpr std::array<int, 4> kNhwcAxisOf = {0, 3, 1, 2};

// shape with its dims permuted: result[i] = shape[perm[i]].
Shape permute_shape(const Shape& shape, std::span<const int> perm);

// Copies `in` into `out` (already shaped permute_shape(in.shape(), perm), same
// dtype) with its dims permuted. Any dtype: elements are moved as bytes.
void permute_dims(const Tensor& in, std::span<const int> perm, Tensor& out);

// A new tensor holding `in` with its dims permuted.
Result<Tensor> permuted(const Tensor& in, std::span<const int> perm);

}  // namespace iskra
