// Tensor: a dtype, a concrete shape and a pointer to dense row-major data.
//
// A Tensor either views memory it does not own (arena slices, mmapped weights)
// or shares ownership of a heap block (constants, outputs returned to the
// caller). Copying a Tensor copies the view, never the data.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/dtype.h"

namespace iskra {

using Shape = std::vector<int64_t>;

std::string shape_to_string(std::span<const int64_t> shape);  // "[1,3,224,224]"
// Element count of a validated shape (dims >= 0, no overflow).
int64_t shape_element_count(std::span<const int64_t> shape);
// Checks dims are >= 0 and that the byte size fits in int64; names `what` on error.
Status validate_shape(DType dtype, std::span<const int64_t> shape, const std::string& what);

// Aligned, zero-initialized heap block; nullptr on failure or when bytes == 0
// would still return a valid distinct pointer.
// kTensorAlignment-aligned storage of at least `bytes` (zero-filled unless
// zero is false); nullptr when out of memory.
std::shared_ptr<void> allocate_aligned(size_t bytes, bool zero = true);
inline constexpr size_t kTensorAlignment = 64;

class Tensor {
 public:
  Tensor() = default;

  // A new zero-filled tensor; fails on invalid/overflowing shapes or OOM.
  static Result<Tensor> allocate(DType dtype, Shape shape);
  // The same, with contents left undefined: for a caller that writes every
  // element (copies of weights, folded constants), skipping a pass over memory.
  static Result<Tensor> allocate_uninitialized(DType dtype, Shape shape);
  // A view of memory owned elsewhere; the caller keeps it alive.
  static Tensor view(DType dtype, Shape shape, void* data) {
    return Tensor(dtype, std::move(shape), data, nullptr);
  }
  // A view that keeps `owner` alive (e.g. the mapped file or a parent tensor).
  static Tensor shared(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
    return Tensor(dtype, std::move(shape), data, std::move(owner));
  }
  // Scalar/vector helpers for tests and constant building.
  template <typename T>
  static Result<Tensor> from_vector(Shape shape, const std::vector<T>& values);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t element_count() const { return shape_element_count(shape_); }
  size_t byte_size() const { return static_cast<size_t>(element_count()) * dtype_size(dtype_); }
  bool has_data() const { return data_ != nullptr; }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T> T* data() { return static_cast<T*>(data_); }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }
  template <typename T> std::span<T> span() { return {data<T>(), static_cast<size_t>(element_count())}; }
  template <typename T> std::span<const T> span() const {
    return {data<T>(), static_cast<size_t>(element_count())};
  }

  // Same data, another shape of the same element count (Reshape, Flatten...).
  Tensor reshaped(Shape shape) const { return Tensor(dtype_, std::move(shape), data_, owner_); }
  // A deep copy with its own storage.
  Result<Tensor> clone() const;
  const std::shared_ptr<void>& owner() const { return owner_; }

  std::string describe() const;  // "f32[1,3,224,224]"

 private:
  Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner)
      : dtype_(dtype), shape_(std::move(shape)), data_(data), owner_(std::move(owner)) {}

  DType dtype_ = DType::kUndefined;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
};

template <typename T>
Result<Tensor> Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  ISKRA_ASSIGN_OR_RETURN(Tensor t, allocate(dtype_of<T>(), std::move(shape)));
  if (static_cast<size_t>(t.element_count()) != values.size())
    return invalid_argument("from_vector: ", values.size(), " values for shape ",
                            shape_to_string(t.shape()));
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

// Reads element i of an integer or bool tensor as int64 (for index/shape inputs).
int64_t tensor_int_at(const Tensor& t, int64_t i);
// Reads element i of any numeric tensor as double.
double tensor_double_at(const Tensor& t, int64_t i);
// All elements of an integer tensor as int64 (shape/axes/pads inputs).
std::vector<int64_t> tensor_to_int64s(const Tensor& t);

}  // namespace iskra
