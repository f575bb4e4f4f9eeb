// Reads a serialized ONNX TensorProto (.pb, the ONNX test-data format).
#pragma once

#include <string>

#include "base/status.h"
#include "ir/tensor.h"

namespace iskra {

// Reads `path` as a TensorProto; `name_out`, if given, receives its name.
// External data is read relative to the file's folder.
Result<Tensor> read_onnx_tensor_file(const std::string& path, std::string* name_out = nullptr);

// Parses a TensorProto image held in memory; external data is refused. `what`
// names it in errors.
Result<Tensor> parse_onnx_tensor(const void* data, size_t size, const std::string& what,
                                 std::string* name_out = nullptr);

}  // namespace iskra
