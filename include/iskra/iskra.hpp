// Iskra C++ API: header-only RAII wrappers over the C API (iskra.h). C++17.
//
// Errors are reported by exceptions: every failing call throws iskra::Error,
// which carries the iskra_status code and the library's message.
//
//   iskra::Model model = iskra::Model::load("model.onnx");
//   iskra::Tensor x = iskra::Tensor::from_data<float>({1, 4}, {1.f, 2.f, 3.f, 4.f});
//   std::vector<iskra::Tensor> outputs = model.run({{"x", x}});
//   const float* y = outputs[0].data<float>();
//
// Model and Tensor own their C handles and are move-only. A Model runs one call
// at a time: run() from a second thread while one is running throws (status
// ISKRA_INVALID_ARGUMENT); separate Models are independent and run in parallel.
//
// The classes live in the inline namespace iskra::v0: user code writes
// iskra::Model, while the symbols stay distinct from the engine's internals.
#ifndef ISKRA_ISKRA_HPP_
#define ISKRA_ISKRA_HPP_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "iskra/iskra.h"

namespace iskra {
inline namespace v0 {

// The exception thrown by every failing call.
class Error : public std::runtime_error {
 public:
  Error(iskra_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  iskra_status status() const noexcept { return status_; }

 private:
  iskra_status status_;
};

namespace detail {
inline void check(iskra_status status) {
  if (status != ISKRA_OK) throw Error(status, iskra_last_error());
}
}  // namespace detail

using DType = iskra_dtype;

// The iskra_dtype of a C++ element type (bool, float, int8_t ... uint64_t).
template <typename T> constexpr DType dtype_of() noexcept;
template <> constexpr DType dtype_of<float>() noexcept { return ISKRA_DTYPE_F32; }
template <> constexpr DType dtype_of<double>() noexcept { return ISKRA_DTYPE_F64; }
template <> constexpr DType dtype_of<int8_t>() noexcept { return ISKRA_DTYPE_I8; }
template <> constexpr DType dtype_of<uint8_t>() noexcept { return ISKRA_DTYPE_U8; }
template <> constexpr DType dtype_of<int16_t>() noexcept { return ISKRA_DTYPE_I16; }
template <> constexpr DType dtype_of<uint16_t>() noexcept { return ISKRA_DTYPE_U16; }
template <> constexpr DType dtype_of<int32_t>() noexcept { return ISKRA_DTYPE_I32; }
template <> constexpr DType dtype_of<uint32_t>() noexcept { return ISKRA_DTYPE_U32; }
template <> constexpr DType dtype_of<int64_t>() noexcept { return ISKRA_DTYPE_I64; }
template <> constexpr DType dtype_of<uint64_t>() noexcept { return ISKRA_DTYPE_U64; }
template <> constexpr DType dtype_of<bool>() noexcept { return ISKRA_DTYPE_BOOL; }

inline const char* dtype_name(DType dtype) noexcept { return iskra_dtype_name(dtype); }

// A dense row-major tensor that owns its memory.
class Tensor {
 public:
  Tensor() noexcept = default;  // empty: no handle
  explicit Tensor(iskra_tensor* handle) noexcept : handle_(handle) {}  // takes ownership
  Tensor(Tensor&& other) noexcept : handle_(other.release()) {}
  Tensor& operator=(Tensor&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor() { iskra_tensor_free(handle_); }

  // A zero-filled tensor.
  static Tensor zeros(DType dtype, const std::vector<int64_t>& shape) {
    iskra_tensor* t = nullptr;
    detail::check(iskra_tensor_create(dtype, shape.data(), shape.size(), &t));
    return Tensor(t);
  }
  // A tensor holding a copy of `bytes` raw bytes (product(shape) * element size).
  static Tensor from_bytes(DType dtype, const std::vector<int64_t>& shape, const void* bytes, size_t size) {
    iskra_tensor* t = nullptr;
    detail::check(iskra_tensor_create_copy(dtype, shape.data(), shape.size(), bytes, size, &t));
    return Tensor(t);
  }
  // A tensor holding a copy of `values` (exactly product(shape) of them).
  // For bool tensors pass a bool array (std::vector<bool> has no data()).
  template <typename T>
  static Tensor from_data(const std::vector<int64_t>& shape, const T* values, size_t count) {
    return from_bytes(dtype_of<T>(), shape, values, count * sizeof(T));
  }
  template <typename T>
  static Tensor from_data(const std::vector<int64_t>& shape, const std::vector<T>& values) {
    return from_data(shape, values.data(), values.size());
  }

  explicit operator bool() const noexcept { return handle_ != nullptr; }
  iskra_tensor* get() const noexcept { return handle_; }
  iskra_tensor* release() noexcept { return std::exchange(handle_, nullptr); }
  void reset(iskra_tensor* handle = nullptr) noexcept { iskra_tensor_free(std::exchange(handle_, handle)); }

  DType dtype() const {
    DType d = ISKRA_DTYPE_UNDEFINED;
    detail::check(iskra_tensor_dtype(handle_, &d));
    return d;
  }
  std::vector<int64_t> shape() const {
    size_t rank = 0;
    detail::check(iskra_tensor_rank(handle_, &rank));
    std::vector<int64_t> dims(rank);
    detail::check(iskra_tensor_dims(handle_, dims.data(), dims.size()));
    return dims;
  }
  size_t element_count() const {
    size_t n = 0;
    detail::check(iskra_tensor_element_count(handle_, &n));
    return n;
  }
  size_t byte_size() const {
    size_t n = 0;
    detail::check(iskra_tensor_byte_size(handle_, &n));
    return n;
  }
  void* raw_data() const {
    void* p = nullptr;
    detail::check(iskra_tensor_data(handle_, &p));
    return p;
  }
  // Typed access; throws if T does not match the tensor's dtype (use
  // uint16_t for f16/bf16 bits).
  template <typename T>
  T* data() const {
    const DType d = dtype();
    const bool half_bits = std::is_same<T, uint16_t>::value && (d == ISKRA_DTYPE_F16 || d == ISKRA_DTYPE_BF16);
    if (d != dtype_of<T>() && !half_bits)
      throw Error(ISKRA_INVALID_ARGUMENT, std::string("tensor holds ") + dtype_name(d) + ", not " +
                                              dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw_data());
  }
  // A copy of the elements.
  template <typename T>
  std::vector<T> to_vector() const {
    const T* p = data<T>();
    return std::vector<T>(p, p + element_count());
  }

 private:
  iskra_tensor* handle_ = nullptr;
};

// A model input or output as the model declares it.
struct IoInfo {
  std::string name;
  DType dtype = ISKRA_DTYPE_UNDEFINED;
  bool has_shape = false;               // false: even the rank is unknown
  std::vector<int64_t> shape;           // -1 where a dim is unknown or symbolic
  std::vector<std::string> dim_names;   // the symbol of each dim ("batch"), or ""
};

// One input of Model::run: the model input's name and the tensor that feeds it.
struct NamedInput {
  std::string name;
  const Tensor& tensor;
};

struct ModelOptions {
  int threads = 1;
  size_t memory_limit_bytes = 0;  // see iskra_model_options; 0: no limit
};

// A loaded model, ready to run.
class Model {
 public:
  Model() noexcept = default;  // empty: no handle
  explicit Model(iskra_model* handle) noexcept : handle_(handle) {}  // takes ownership
  Model(Model&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Model& operator=(Model&& other) noexcept {
    if (this != &other) {
      iskra_model_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model() { iskra_model_free(handle_); }

  // Loads a model file; the format is recognized from its content.
  static Model load(const std::string& path, const ModelOptions& options = {}) {
    const iskra_model_options c_options = to_c(options);
    iskra_model* m = nullptr;
    detail::check(iskra_model_load_file(path.c_str(), &c_options, &m));
    return Model(m);
  }
  // Loads a model from memory; the buffer is not used after the call.
  static Model load_buffer(const void* data, size_t size, const ModelOptions& options = {}) {
    const iskra_model_options c_options = to_c(options);
    iskra_model* m = nullptr;
    detail::check(iskra_model_load_buffer(data, size, &c_options, &m));
    return Model(m);
  }

  explicit operator bool() const noexcept { return handle_ != nullptr; }
  iskra_model* get() const noexcept { return handle_; }

  std::vector<IoInfo> inputs() const { return io_infos(true); }
  std::vector<IoInfo> outputs() const { return io_infos(false); }

  // Runs the model: every input given once by name, in any order. Returns
  // the outputs in the model's output order.
  std::vector<Tensor> run(std::initializer_list<NamedInput> inputs) { return run_impl(inputs.begin(), inputs.size()); }
  std::vector<Tensor> run(const std::vector<NamedInput>& inputs) { return run_impl(inputs.data(), inputs.size()); }

 private:
  static iskra_model_options to_c(const ModelOptions& options) {
    iskra_model_options c = iskra_model_options_default();
    c.threads = options.threads;
    c.memory_limit_bytes = options.memory_limit_bytes;
    return c;
  }

  std::vector<IoInfo> io_infos(bool inputs) const {
    size_t count = 0;
    detail::check(inputs ? iskra_model_input_count(handle_, &count) : iskra_model_output_count(handle_, &count));
    std::vector<IoInfo> infos(count);
    for (size_t i = 0; i < count; ++i) {
      IoInfo& info = infos[i];
      const char* name = nullptr;
      int64_t rank = -1;
      detail::check(inputs ? iskra_model_input_name(handle_, i, &name) : iskra_model_output_name(handle_, i, &name));
      detail::check(inputs ? iskra_model_input_dtype(handle_, i, &info.dtype)
                           : iskra_model_output_dtype(handle_, i, &info.dtype));
      detail::check(inputs ? iskra_model_input_rank(handle_, i, &rank) : iskra_model_output_rank(handle_, i, &rank));
      info.name = name;
      info.has_shape = rank >= 0;
      if (!info.has_shape) continue;
      info.shape.resize(static_cast<size_t>(rank));
      detail::check(inputs ? iskra_model_input_dims(handle_, i, info.shape.data(), info.shape.size())
                           : iskra_model_output_dims(handle_, i, info.shape.data(), info.shape.size()));
      for (size_t axis = 0; axis < info.shape.size(); ++axis) {
        const char* dim_name = nullptr;
        detail::check(inputs ? iskra_model_input_dim_name(handle_, i, axis, &dim_name)
                             : iskra_model_output_dim_name(handle_, i, axis, &dim_name));
        info.dim_names.emplace_back(dim_name);
      }
    }
    return infos;
  }

  std::vector<Tensor> run_impl(const NamedInput* inputs, size_t count) {
    std::vector<const char*> names(count);
    std::vector<const iskra_tensor*> handles(count);
    for (size_t i = 0; i < count; ++i) {
      names[i] = inputs[i].name.c_str();
      handles[i] = inputs[i].tensor.get();
    }
    size_t output_count = 0;
    detail::check(iskra_model_output_count(handle_, &output_count));
    std::vector<iskra_tensor*> raw(output_count, nullptr);
    std::vector<Tensor> outputs;
    outputs.reserve(raw.size());  // before running, so that taking ownership cannot throw
    detail::check(iskra_model_run(handle_, names.data(), handles.data(), count, raw.data(), raw.size()));
    for (iskra_tensor* t : raw) outputs.emplace_back(t);
    return outputs;
  }

  iskra_model* handle_ = nullptr;
};

}  // namespace v0
}  // namespace iskra

#endif  // ISKRA_ISKRA_HPP_
