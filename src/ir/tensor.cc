#include "ir/tensor.h"

#include <cmath>
#include <cstring>

#include "base/buffer.h"
#include <limits>
#include <new>

#include "base/checked_math.h"

namespace iskra {

std::string shape_to_string(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t shape_element_count(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Status validate_shape(DType dtype, std::span<const int64_t> shape, const std::string& what) {
  for (int64_t d : shape)
    if (d < 0) return invalid_argument(what, ": negative dimension in shape ", shape_to_string(shape));
  auto count = checked_element_count(shape);
  const auto elem = static_cast<int64_t>(dtype_size(dtype));
  if (!count || !checked_mul(*count, elem ? elem : 1))
    return invalid_argument(what, ": shape ", shape_to_string(shape), " overflows the addressable size");
  return Status::ok();
}

std::shared_ptr<void> allocate_aligned(size_t bytes, bool zero) {
  const size_t padded = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  const size_t size = padded ? padded : kTensorAlignment;
  void* p = zero ? allocate_zeroed_buffer(size) : allocate_buffer(size);
  if (!p) return nullptr;
  return std::shared_ptr<void>(p, [size](void* q) { free_buffer(q, size); });
}

namespace {

Result<Tensor> allocate_tensor(DType dtype, Shape shape, bool zero) {
  if (!dtype_is_supported(dtype))
    return unsupported("tensors of dtype ", dtype_name(dtype), " are not supported");
  ISKRA_RETURN_IF_ERROR(validate_shape(dtype, shape, "tensor"));
  const size_t bytes = static_cast<size_t>(shape_element_count(shape)) * dtype_size(dtype);
  auto block = allocate_aligned(bytes, zero);
  if (!block) return out_of_memory("cannot allocate ", bytes, " bytes for a ", dtype_name(dtype),
                                   shape_to_string(shape), " tensor");
  void* data = block.get();
  return Tensor::shared(dtype, std::move(shape), data, std::move(block));
}

}  // namespace

Result<Tensor> Tensor::allocate(DType dtype, Shape shape) { return allocate_tensor(dtype, std::move(shape), true); }

Result<Tensor> Tensor::allocate_uninitialized(DType dtype, Shape shape) {
  return allocate_tensor(dtype, std::move(shape), false);
}

Result<Tensor> Tensor::clone() const {
  ISKRA_ASSIGN_OR_RETURN(Tensor copy, allocate_uninitialized(dtype_, shape_));
  if (byte_size()) std::memcpy(copy.raw_data(), data_, byte_size());
  return copy;
}

std::string Tensor::describe() const { return std::string(dtype_name(dtype_)) + shape_to_string(shape_); }

int64_t tensor_int_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kI64: return t.data<int64_t>()[i];
    case DType::kI32: return t.data<int32_t>()[i];
    case DType::kI16: return t.data<int16_t>()[i];
    case DType::kI8: case DType::kI4: case DType::kI2: return t.data<int8_t>()[i];
    case DType::kU8: case DType::kU4: case DType::kU2: return t.data<uint8_t>()[i];
    case DType::kU16: return t.data<uint16_t>()[i];
    case DType::kU32: return t.data<uint32_t>()[i];
    case DType::kU64: return static_cast<int64_t>(t.data<uint64_t>()[i]);
    case DType::kBool: return t.data<bool>()[i] ? 1 : 0;
    default: {
      // Floats truncate toward zero; NaN reads as 0 and out-of-range values saturate.
      const double d = tensor_double_at(t, i);
      if (std::isnan(d)) return 0;
      if (d >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
      if (d <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
      return static_cast<int64_t>(d);
    }
  }
}

double tensor_double_at(const Tensor& t, int64_t i) {
  if (dtype_is_small_int(t.dtype())) return static_cast<double>(tensor_int_at(t, i));
  if (dtype_is_small_float(t.dtype())) return small_float_to_float(t.dtype(), t.data<uint8_t>()[i]);
  return ISKRA_DISPATCH_ALL(
      t.dtype(), [&](auto tag) -> double {
        using T = decltype(tag);
        return static_cast<double>(t.data<T>()[i]);
      },
      0.0);
}

std::vector<int64_t> tensor_to_int64s(const Tensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.element_count()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = tensor_int_at(t, static_cast<int64_t>(i));
  return out;
}

}  // namespace iskra
