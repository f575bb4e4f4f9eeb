// ONNX TensorProto → Tensor, shared by the importer and the .pb reader.
#pragma once

#include <optional>
#include <span>
#include <string>

#include <onnx/onnx_pb.h>

#include "base/status.h"
#include "ir/tensor.h"

namespace iskra {

// Converts `proto`. External data is read from files relative to `base_dir`
// (which they may not escape); an empty base_dir refuses external data.
// `what` names the tensor in errors (e.g. "initializer 'conv1.weight'").
// `detached_raw_data`: the tensor's raw_data when it was cut out of the
// message before parsing (see onnx_wire.h); used as if proto held it.
Result<Tensor> tensor_from_onnx(const onnx::TensorProto& proto, const std::string& base_dir,
                                const std::string& what,
                                std::optional<std::span<const uint8_t>> detached_raw_data = std::nullopt);

// Maps an ONNX elem_type code to a DType; fails naming `what` for types Iskra
// does not store (string, complex, float6...).
Result<DType> dtype_from_onnx(int32_t elem_type, const std::string& what);

}  // namespace iskra
