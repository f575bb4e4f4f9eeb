#include "import/onnx/onnx_tensor.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include <google/protobuf/arena.h>

#include "base/checked_math.h"
#include "ir/limits.h"
#include "import/onnx/onnx_tensor_file.h"

namespace iskra {

namespace fs = std::filesystem;

namespace {

// TensorProto.DataType names by code. Written out because the protobuf
// library of older onnx releases (Debian's 1.12) does not know codes > 16.
const char* onnx_type_name(int32_t code) {
  static constexpr const char* kNames[] = {
      "UNDEFINED", "FLOAT",      "UINT8",        "INT8",           "UINT16",     "INT16",          "INT32",
      "INT64",     "STRING",     "BOOL",         "FLOAT16",        "DOUBLE",     "UINT32",         "UINT64",
      "COMPLEX64", "COMPLEX128", "BFLOAT16",     "FLOAT8E4M3FN",   "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ",
      "UINT4",     "INT4",       "FLOAT4E2M1",   "FLOAT8E8M0",     "UINT2",      "INT2",           "FLOAT6E2M3",
      "FLOAT6E3M2"};
  constexpr int32_t kCount = static_cast<int32_t>(sizeof kNames / sizeof kNames[0]);
  return code >= 0 && code < kCount ? kNames[code] : "unknown";
}

}  // namespace

Result<DType> dtype_from_onnx(int32_t elem_type, const std::string& what) {
  switch (elem_type) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 9: case 10: case 11: case 12: case 13: case 16:
    case 17: case 18: case 19: case 20: case 21: case 22: case 23: case 24: case 25: case 26:
      return static_cast<DType>(elem_type);
    case 8: return unsupported(what, ": string tensors are not supported");
    default:
      return unsupported(what, ": element type ", onnx_type_name(elem_type), " (", elem_type, ") is not supported");
  }
}

namespace {

// Copies `count` values of a repeated proto field into `out`, converting.
template <typename Dst, typename Field>
void copy_field(const Field& field, Tensor& out) {
  Dst* dst = out.data<Dst>();
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<Dst>(field.Get(i));
}

// Resolves an external-data location inside base_dir, refusing escapes.
Result<fs::path> resolve_external(const std::string& base_dir, const std::string& location, const std::string& what) {
  if (base_dir.empty()) return invalid_model(what, ": external data '", location, "' but the model was not loaded from a file");
  fs::path rel(location);
  if (location.empty() || rel.is_absolute())
    return invalid_model(what, ": external data location '", location, "' must be a relative path");
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::path(base_dir), ec);
  const fs::path full = fs::weakly_canonical(base / rel, ec);
  if (ec) return invalid_model(what, ": cannot resolve external data location '", location, "'");
  auto [base_end, full_it] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (base_end != base.end())
    return invalid_model(what, ": external data location '", location, "' escapes the model's folder");
  return full;
}

// Where an external-data tensor's bytes are: a file inside the model's folder
// and an offset, checked to hold `expected` bytes there (before anything is
// allocated for them).
struct ExternalSlice {
  fs::path path;
  int64_t offset = 0;
};

Result<ExternalSlice> locate_external(const onnx::TensorProto& proto, const std::string& base_dir,
                                      const std::string& what, int64_t expected, const Shape& shape) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    else if (entry.key() == "offset" || entry.key() == "length") {
      char* end = nullptr;
      long long v = std::strtoll(entry.value().c_str(), &end, 10);
      if (end == entry.value().c_str() || *end != '\0' || v < 0)
        return invalid_model(what, ": bad external data ", entry.key(), " '", entry.value(), "'");
      (entry.key() == "offset" ? offset : length) = v;
    }
  }
  ISKRA_ASSIGN_OR_RETURN(fs::path path, resolve_external(base_dir, location, what));
  if (length >= 0 && length != expected)
    return invalid_model(what, ": external data length ", length, " does not match shape ",
                         shape_to_string(shape), " (", expected, " bytes)");
  std::error_code ec;
  const auto file_size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) return io_error(what, ": cannot open external data file '", path.string(), "'");
  if (offset > file_size || file_size - offset < expected)
    return invalid_model(what, ": external data file '", path.string(), "' is shorter than offset ", offset, " + ",
                         expected, " bytes");
  return ExternalSlice{std::move(path), offset};
}

Status read_external(const ExternalSlice& slice, const std::string& what, void* dst, int64_t bytes) {
  std::ifstream file(slice.path, std::ios::binary);
  if (!file) return io_error(what, ": cannot open external data file '", slice.path.string(), "'");
  file.seekg(slice.offset);
  file.read(static_cast<char*>(dst), bytes);
  if (!file) return io_error(what, ": failed reading external data file '", slice.path.string(), "'");
  return Status::ok();
}

// Values in the typed field that holds `dtype` data.
int64_t typed_field_size(const onnx::TensorProto& proto, DType dtype) {
  switch (dtype) {
    case DType::kF32: return proto.float_data_size();
    case DType::kF64: return proto.double_data_size();
    case DType::kI64: return proto.int64_data_size();
    case DType::kU32: case DType::kU64: return proto.uint64_data_size();
    default: return proto.int32_data_size();
  }
}

// Elements per byte of a dtype in ONNX files: 2 for 4-bit, 4 for 2-bit types, else 1.
int64_t elements_per_byte(DType dtype) { return dtype_bits(dtype) < 8 ? 8 / dtype_bits(dtype) : 1; }

// Bytes `count` elements take in an ONNX file (sub-byte types packed).
size_t file_byte_size(DType dtype, int64_t count) {
  const int64_t per_byte = elements_per_byte(dtype);
  if (per_byte > 1) return static_cast<size_t>(count / per_byte + (count % per_byte != 0));  // no overflow near INT64_MAX
  return static_cast<size_t>(count) * dtype_size(dtype);
}

// Unpacks sub-byte elements as ONNX packs them, low bits first (for 4-bit
// types element 2k is the low nibble of byte k, element 2k+1 the high one;
// an odd count leaves the last high nibble unused), one element per byte of
// out; signed types are sign-extended.
void unpack_sub_byte(const uint8_t* packed, Tensor& out) {
  const DType dtype = out.dtype();
  const int bits = dtype_bits(dtype);
  const int64_t per_byte = elements_per_byte(dtype);
  const unsigned mask = (1u << bits) - 1;
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t i = 0; i < out.element_count(); ++i) {
    const unsigned code = (packed[i / per_byte] >> ((i % per_byte) * bits)) & mask;
    dst[i] = dtype_is_small_int(dtype) ? static_cast<uint8_t>(small_int_wrap(dtype, code)) : static_cast<uint8_t>(code);
  }
}

}  // namespace

Result<Tensor> tensor_from_onnx(const onnx::TensorProto& proto, const std::string& base_dir, const std::string& what,
                                std::optional<std::span<const uint8_t>> detached_raw_data) {
  ISKRA_ASSIGN_OR_RETURN(DType dtype, dtype_from_onnx(proto.data_type(), what));
  if (proto.has_segment()) return unsupported(what, ": segmented tensors are not supported");
  if (static_cast<size_t>(proto.dims_size()) > kMaxTensorRank)
    return invalid_model(what, ": rank ", proto.dims_size(), " is over the limit of ", kMaxTensorRank);
  Shape shape(proto.dims().begin(), proto.dims().end());
  ISKRA_RETURN_IF_ERROR(validate_shape(dtype, shape, what));
  const int64_t count = shape_element_count(shape);
  const size_t bytes = file_byte_size(dtype, count);
  // Check the data size before allocating, so an absurd shape with little data
  // is rejected without reserving memory for it.
  const bool external = proto.data_location() == onnx::TensorProto::EXTERNAL;
  std::optional<std::span<const uint8_t>> raw = detached_raw_data;
  if (!raw && proto.has_raw_data())
    raw = std::span(reinterpret_cast<const uint8_t*>(proto.raw_data().data()), proto.raw_data().size());
  if (!external && raw && raw->size() != bytes)
    return invalid_model(what, ": raw data has ", raw->size(), " bytes, shape ", shape_to_string(shape), " of ",
                         dtype_name(dtype), " needs ", bytes);
  std::optional<ExternalSlice> slice;
  if (external) {
    ISKRA_ASSIGN_OR_RETURN(slice, locate_external(proto, base_dir, what, static_cast<int64_t>(bytes), shape));
  }
  // Typed fields: which one holds the data depends on the element type.
  // Sub-byte types keep one packed byte per int32_data entry.
  const bool packed = elements_per_byte(dtype) > 1;
  if (!external && !raw) {
    const int64_t needed = packed ? static_cast<int64_t>(bytes) : count;
    const int64_t stored = typed_field_size(proto, dtype);
    if (stored != needed)
      return invalid_model(what, ": holds ", stored, " values, shape ", shape_to_string(shape), " of ",
                           dtype_name(dtype), " needs ", needed, packed ? " (packed bytes)" : "");
  }
  // Every path below writes every element.
  ISKRA_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate_uninitialized(dtype, shape));
  if (external) {
    std::string packed_bytes(packed ? bytes : 0, '\0');
    void* dst = packed ? packed_bytes.data() : out.raw_data();
    ISKRA_RETURN_IF_ERROR(read_external(*slice, what, dst, static_cast<int64_t>(bytes)));
    if (packed) unpack_sub_byte(reinterpret_cast<const uint8_t*>(packed_bytes.data()), out);
    return out;
  }
  if (raw) {
    if (packed) unpack_sub_byte(raw->data(), out);
    else if (bytes) std::memcpy(out.raw_data(), raw->data(), bytes);
    return out;
  }
  if (packed) {
    std::vector<uint8_t> data(bytes);
    for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<uint8_t>(proto.int32_data(static_cast<int>(i)) & 0xff);
    unpack_sub_byte(data.data(), out);
    return out;
  }
  switch (dtype) {
    case DType::kF32: copy_field<float>(proto.float_data(), out); break;
    case DType::kF64: copy_field<double>(proto.double_data(), out); break;
    case DType::kI64: copy_field<int64_t>(proto.int64_data(), out); break;
    case DType::kU32: copy_field<uint32_t>(proto.uint64_data(), out); break;
    case DType::kU64: copy_field<uint64_t>(proto.uint64_data(), out); break;
    case DType::kI32: copy_field<int32_t>(proto.int32_data(), out); break;
    case DType::kI16: copy_field<int16_t>(proto.int32_data(), out); break;
    case DType::kU16: copy_field<uint16_t>(proto.int32_data(), out); break;
    case DType::kI8: copy_field<int8_t>(proto.int32_data(), out); break;
    case DType::kU8: copy_field<uint8_t>(proto.int32_data(), out); break;
    case DType::kBool: copy_field<bool>(proto.int32_data(), out); break;
    case DType::kF16: case DType::kBF16: copy_field<uint16_t>(proto.int32_data(), out); break;  // raw bits
    default:
      // The 8-bit small floats: one bit pattern per int32_data entry.
      if (!dtype_is_small_float(dtype)) return internal_error(what, ": unhandled dtype ", dtype_name(dtype));
      copy_field<uint8_t>(proto.int32_data(), out);
      break;
  }
  return out;
}

namespace {

// `base_dir` empty: external data refused.
Result<Tensor> parse_tensor_proto(const void* data, size_t size, const std::string& what, const std::string& base_dir,
                                  std::string* name_out) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()))
    return invalid_argument(what, " is larger than a protobuf message may be (2 GiB)");
  google::protobuf::Arena arena;  // owns everything even when out of memory interrupts the parse
  auto* proto = google::protobuf::Arena::CreateMessage<onnx::TensorProto>(&arena);
  if (!proto->ParseFromArray(data, static_cast<int>(size))) return invalid_argument(what, " is not a valid ONNX TensorProto");
  if (name_out) *name_out = proto->name();
  return tensor_from_onnx(*proto, base_dir, what);
}

}  // namespace

Result<Tensor> read_onnx_tensor_file(const std::string& path, std::string* name_out) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return io_error("cannot open '", path, "'");
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::string dir = fs::path(path).parent_path().string();
  return parse_tensor_proto(bytes.data(), bytes.size(), "tensor file '" + path + "'", dir.empty() ? "." : dir, name_out);
}

Result<Tensor> parse_onnx_tensor(const void* data, size_t size, const std::string& what, std::string* name_out) {
  return parse_tensor_proto(data, size, what, "", name_out);
}

}  // namespace iskra
