// Tensors in files (.npy, ONNX TensorProto .pb), random inputs and summaries
// for the `iskra` commands.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "ir/tensor.h"

namespace iskra::cli {

// Reads a .npy or an ONNX TensorProto file, recognized by its content.
Result<Tensor> read_tensor_file(const std::string& path);
// Writes `tensor` as .npy. bf16 (which numpy lacks) is written as f32 and
// `converted` (if given) is set.
Status write_tensor_npy(const std::string& path, const Tensor& tensor, bool* converted = nullptr);

// A tensor of deterministic pseudo-random values from `seed`: floats uniform
// in [-1, 1], integers in [0, 10), bools 0/1.
Result<Tensor> random_tensor(DType dtype, const Shape& shape, uint64_t seed);

struct TensorStats {
  int64_t count = 0;      // elements
  int64_t nan_count = 0;  // NaN elements (excluded from min/max/mean)
  double min = 0, max = 0, mean = 0;
};
TensorStats tensor_stats(const Tensor& tensor);

// `name` with every character outside [A-Za-z0-9._-] replaced by '_'.
std::string sanitize_file_name(const std::string& name);

}  // namespace iskra::cli
