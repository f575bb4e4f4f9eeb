// ONNX TensorProto → Tensor, shared by the importer and the .pb reader.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

#include "base/status.h"
#include "ir/tensor.h"

namespace iskra {

// Converts `proto`. External data is read from files relative to `base_dir`
// (which they may not escape); an empty base_dir refuses external data.
// `what` names the tensor in errors (e.g. "initializer 'conv1.weight'").
Result<Tensor> tensor_from_onnx(const onnx::TensorProto& proto, const std::string& base_dir,
                                const std::string& what);

// Maps an ONNX elem_type code to a DType; fails naming `what` for types Iskra
// does not store (string, complex, float6...).
Result<DType> dtype_from_onnx(int32_t elem_type, const std::string& what);

}  // namespace iskra
