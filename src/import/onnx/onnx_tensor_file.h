// Reads a serialized ONNX TensorProto (.pb, the ONNX test-data format).
#pragma once

#include <string>

#include "base/status.h"
#include "ir/tensor.h"

namespace iskra {

// Reads `path` as a TensorProto; `name_out`, if given, receives its name.
Result<Tensor> read_onnx_tensor_file(const std::string& path, std::string* name_out = nullptr);

}  // namespace iskra
