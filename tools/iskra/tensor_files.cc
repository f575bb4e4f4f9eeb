#include "tensor_files.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "base/npy.h"
#include "import/onnx/onnx_tensor_file.h"

namespace iskra::cli {

namespace {

constexpr DType kNpyDTypes[] = {DType::kF32, DType::kF64, DType::kF16, DType::kI8,  DType::kU8,
                                DType::kI16, DType::kU16, DType::kI32, DType::kU32, DType::kI64,
                                DType::kU64, DType::kBool};

Result<Tensor> npy_to_tensor(NpyArray array, const std::string& path) {
  DType dtype = DType::kUndefined;
  for (DType d : kNpyDTypes)
    if (array.descr == dtype_numpy_descr(d)) dtype = d;
  if (dtype == DType::kUndefined) return unsupported(path, ": unsupported .npy dtype '", array.descr, "'");
  ISKRA_ASSIGN_OR_RETURN(Tensor tensor, Tensor::allocate(dtype, array.shape));
  if (tensor.byte_size() != array.data.size())
    return internal_error(path, ": .npy data size does not match its shape");
  if (!array.data.empty()) std::memcpy(tensor.raw_data(), array.data.data(), array.data.size());
  if (dtype == DType::kBool) {
    // Any non-zero byte is true; store it as 1 so that C++ bool reads are valid.
    auto* bytes = static_cast<uint8_t*>(tensor.raw_data());
    for (size_t i = 0; i < tensor.byte_size(); ++i) bytes[i] = bytes[i] != 0;
  }
  return tensor;
}

// xorshift64*: small, fast, and the same sequence on every platform (unlike
// the std:: distributions, whose output is implementation-defined).
struct Random {
  uint64_t state;
  explicit Random(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {
    if (state == 0) state = 1;
  }
  uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  }
  double uniform(double lo, double hi) {  // [lo, hi]
    return lo + (hi - lo) * static_cast<double>(next() >> 11) * (1.0 / 9007199254740991.0);
  }
};

}  // namespace

Result<Tensor> read_tensor_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return io_error(path, ": cannot open: ", std::strerror(errno));
  char magic[6] = {};
  const size_t n = std::fread(magic, 1, sizeof magic, file);
  std::fclose(file);
  if (n == sizeof magic && std::memcmp(magic, "\x93NUMPY", sizeof magic) == 0) {
    ISKRA_ASSIGN_OR_RETURN(NpyArray array, read_npy_file(path));
    return npy_to_tensor(std::move(array), path);
  }
  return read_onnx_tensor_file(path);
}

DType npy_dtype_for(DType dtype) {
  if (dtype == DType::kBF16 || dtype_is_small_float(dtype)) return DType::kF32;
  if (dtype_is_small_int(dtype)) return small_int_storage(dtype);
  return dtype;
}

Status write_tensor_npy(const std::string& path, const Tensor& tensor, bool* converted) {
  const DType npy_dtype = npy_dtype_for(tensor.dtype());
  if (converted) *converted = npy_dtype != tensor.dtype();
  const char* descr = dtype_numpy_descr(npy_dtype);
  if (!descr) return unsupported("cannot write a ", dtype_name(tensor.dtype()), " tensor as .npy");
  NpyArray array;
  array.shape = tensor.shape();
  array.descr = descr;
  if (npy_dtype == DType::kF32 && tensor.dtype() != DType::kF32) {
    // Widening to float is exact for every type mapped to f32.
    array.data.resize(static_cast<size_t>(tensor.element_count()) * sizeof(float));
    for (int64_t i = 0; i < tensor.element_count(); ++i) {
      const auto f = static_cast<float>(tensor_double_at(tensor, i));
      std::memcpy(array.data.data() + i * sizeof(float), &f, sizeof f);
    }
  } else {  // the same bytes (small integers are stored as the 8-bit integers they are written as)
    const auto* bytes = static_cast<const uint8_t*>(tensor.raw_data());
    if (tensor.byte_size()) array.data.assign(bytes, bytes + tensor.byte_size());
  }
  return write_npy_file(path, array);
}

Result<Tensor> random_tensor(DType dtype, const Shape& shape, uint64_t seed) {
  ISKRA_ASSIGN_OR_RETURN(Tensor tensor, Tensor::allocate(dtype, shape));
  Random random(seed);
  const int64_t count = tensor.element_count();
  if (dtype_is_low_precision(dtype)) {  // one byte per element, see ir/dtype.h
    uint8_t* out = tensor.data<uint8_t>();
    const double lo = dtype == DType::kF8E8M0 ? 0.0 : -1.0;  // e8m0 holds positive powers of two only
    const uint64_t int_limit =
        dtype_is_small_int(dtype) ? std::min<uint64_t>(10, static_cast<uint64_t>(small_int_max(dtype)) + 1) : 1;
    for (int64_t i = 0; i < count; ++i)
      out[i] = dtype_is_small_float(dtype) ? small_float_from_double(dtype, random.uniform(lo, 1.0))
                                           : static_cast<uint8_t>(random.next() % int_limit);
    return tensor;
  }
  Status status = ISKRA_DISPATCH_ALL(
      dtype,
      [&](auto tag) {
        using T = decltype(tag);
        T* out = tensor.data<T>();
        for (int64_t i = 0; i < count; ++i) {
          if constexpr (std::is_same_v<T, bool>) {
            out[i] = (random.next() >> 63) != 0;
          } else if constexpr (std::is_integral_v<T>) {
            out[i] = static_cast<T>(random.next() % 10);
          } else {
            out[i] = T(static_cast<float>(random.uniform(-1.0, 1.0)));
          }
        }
        return Status::ok();
      },
      unsupported("cannot make random ", dtype_name(dtype), " values"));
  ISKRA_RETURN_IF_ERROR(status);
  return tensor;
}

TensorStats tensor_stats(const Tensor& tensor) {
  TensorStats stats;
  stats.count = tensor.element_count();
  if (!dtype_is_supported(tensor.dtype()) || tensor.dtype() == DType::kString) return stats;
  double sum = 0;
  int64_t finite_or_inf = 0;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int64_t i = 0; i < stats.count; ++i) {
    const double v = tensor_double_at(tensor, i);
    if (std::isnan(v)) {
      ++stats.nan_count;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
    ++finite_or_inf;
  }
  if (finite_or_inf > 0) {
    stats.min = lo;
    stats.max = hi;
    stats.mean = sum / static_cast<double>(finite_or_inf);
  }
  return stats;
}

std::string sanitize_file_name(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

}  // namespace iskra::cli
