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
// The dtype a tensor of `dtype` is written as in .npy: itself where numpy has
// it; for the types numpy lacks, f32 for bf16 and the small floats (float8,
// float4: exact) and i8/u8 for the small integers (i4, i2 / u4, u2).
DType npy_dtype_for(DType dtype);
// Writes `tensor` as .npy, as npy_dtype_for(its dtype); `converted` (if given)
// is set when that is not its own dtype.
Status write_tensor_npy(const std::string& path, const Tensor& tensor, bool* converted = nullptr);

// A tensor of deterministic pseudo-random values from `seed`: floats uniform
// in [-1, 1] (float8e8m0: positive), integers in [0, 10) (small integers: in
// [0, min(10, max + 1))), bools 0/1.
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
