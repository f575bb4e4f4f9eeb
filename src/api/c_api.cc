// The C API (include/iskra/iskra.h) over iskra::Session and the model loader.
//
// Every entry point clears the thread's last error, checks its arguments and
// catches C++ exceptions, so nothing escapes into C callers.
#include "iskra/iskra.h"

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "api/model_loader.h"
#include "base/checked_math.h"
#include "runtime/session.h"

struct iskra_model {
  std::unique_ptr<iskra::Session> session;
};

struct iskra_tensor {
  iskra::Tensor tensor;
};

namespace {

using iskra::DType;
using iskra::Status;
using iskra::StatusCode;

thread_local std::string g_last_error;

iskra_status to_c_status(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return ISKRA_OK;
    case StatusCode::kInvalidModel: return ISKRA_INVALID_MODEL;
    case StatusCode::kUnsupported: return ISKRA_UNSUPPORTED;
    case StatusCode::kInvalidArgument: return ISKRA_INVALID_ARGUMENT;
    case StatusCode::kOutOfMemory: return ISKRA_OUT_OF_MEMORY;
    case StatusCode::kIoError: return ISKRA_IO_ERROR;
    case StatusCode::kNeedsValue:  // should never leave the runtime
    case StatusCode::kInternal: return ISKRA_INTERNAL;
  }
  return ISKRA_INTERNAL;
}

// Records the message, the concatenation of `parts`; never throws (it is also
// called from catch handlers, where out of memory must not escape).
template <typename... Parts>
iskra_status fail(iskra_status status, const Parts&... parts) noexcept {
  try {
    if constexpr (sizeof...(Parts) == 1)
      g_last_error.assign(parts...);  // no stream: a short message needs no allocation
    else
      g_last_error = iskra::str_cat(parts...);
  } catch (...) {
    g_last_error.clear();
  }
  return status;
}

iskra_status fail(const Status& status) noexcept { return fail(to_c_status(status.code()), status.message()); }

iskra_status null_argument(const char* function, const char* argument) {
  return fail(ISKRA_INVALID_ARGUMENT, std::string(function) + ": '" + argument + "' is NULL");
}

// Runs `body(function)` (returning iskra_status) with the last error cleared
// and every exception turned into a status.
template <typename Body>
iskra_status guarded(const char* function, Body&& body) {
  g_last_error.clear();
  try {
    return body(function);
  } catch (const std::bad_alloc&) {
    return fail(ISKRA_OUT_OF_MEMORY, "out of memory");
  } catch (const iskra::StatusError& e) {  // Result::value() of an error, e.g. out of memory
    return fail(e.status());
  } catch (const std::exception& e) {
    return fail(ISKRA_INTERNAL, "internal error: ", e.what());
  } catch (...) {
    return fail(ISKRA_INTERNAL, "internal error: unknown exception");
  }
}

// Inside a guarded body: fails naming the API function and the argument.
#define ISKRA_C_CHECK_ARG(arg) \
  if ((arg) == nullptr) return null_argument(function, #arg)

// The C enum and the engine's DType share ONNX's codes; keep them in step.
static_assert(ISKRA_DTYPE_F32 == static_cast<int>(DType::kF32) && ISKRA_DTYPE_BOOL == static_cast<int>(DType::kBool) &&
              ISKRA_DTYPE_F16 == static_cast<int>(DType::kF16) && ISKRA_DTYPE_BF16 == static_cast<int>(DType::kBF16) &&
              ISKRA_DTYPE_F8E4M3FN == static_cast<int>(DType::kF8E4M3FN) && ISKRA_DTYPE_I4 == static_cast<int>(DType::kI4) &&
              ISKRA_DTYPE_I2 == static_cast<int>(DType::kI2));

// The dtype code a caller passed. C lets any int through an enum parameter, but C++ may not
// load a value outside the enumerators' range as the enum (UBSan's enum check): read its bits.
int32_t dtype_code(const iskra_dtype& dtype) {
  std::underlying_type_t<iskra_dtype> raw;
  static_assert(sizeof raw == sizeof(int32_t));
  std::memcpy(&raw, &dtype, sizeof raw);
  return static_cast<int32_t>(raw);
}

bool is_known_dtype(int32_t code) {
  switch (code) {
    case ISKRA_DTYPE_UNDEFINED: case ISKRA_DTYPE_F32: case ISKRA_DTYPE_U8: case ISKRA_DTYPE_I8:
    case ISKRA_DTYPE_U16: case ISKRA_DTYPE_I16: case ISKRA_DTYPE_I32: case ISKRA_DTYPE_I64:
    case ISKRA_DTYPE_STRING: case ISKRA_DTYPE_BOOL: case ISKRA_DTYPE_F16: case ISKRA_DTYPE_F64:
    case ISKRA_DTYPE_U32: case ISKRA_DTYPE_U64: case ISKRA_DTYPE_BF16:
    case ISKRA_DTYPE_F8E4M3FN: case ISKRA_DTYPE_F8E4M3FNUZ: case ISKRA_DTYPE_F8E5M2:
    case ISKRA_DTYPE_F8E5M2FNUZ: case ISKRA_DTYPE_U4: case ISKRA_DTYPE_I4: case ISKRA_DTYPE_F4E2M1:
    case ISKRA_DTYPE_F8E8M0: case ISKRA_DTYPE_U2: case ISKRA_DTYPE_I2:
      return true;
    default:
      return false;
  }
}

const char* dtype_code_name(int32_t code) {
  return is_known_dtype(code) ? iskra::dtype_name(static_cast<DType>(code)) : "unknown";
}

size_t dtype_code_size(int32_t code) {  // 0: unknown, or not storable in a tensor (strings)
  return is_known_dtype(code) ? iskra::dtype_size(static_cast<DType>(code)) : 0;
}

iskra_status load(iskra::Result<iskra::Model> model, const iskra_model_options* options, iskra_model** out) {
  if (!model.is_ok()) return fail(model.status());
  iskra::SessionOptions session_options;
  if (options) {
    session_options.threads = options->threads;
    session_options.memory_limit_bytes = options->memory_limit_bytes;
  }
  auto session = iskra::Session::create(std::move(model).value(), session_options);
  if (!session.is_ok()) return fail(session.status());
  auto handle = std::make_unique<iskra_model>();
  handle->session = std::move(session).value();
  *out = handle.release();
  return ISKRA_OK;
}

// Shared implementation of the input/output description functions.
const std::vector<iskra::IoInfo>& io_list(const iskra_model* model, bool inputs) {
  return inputs ? model->session->inputs() : model->session->outputs();
}

iskra_status io_at(const char* function, const iskra_model* model, bool inputs, size_t index,
                   const iskra::IoInfo** info) {
  if (model == nullptr) return null_argument(function, "model");
  const auto& list = io_list(model, inputs);
  if (index >= list.size())
    return fail(ISKRA_INVALID_ARGUMENT, std::string(function) + ": index " + std::to_string(index) +
                                            " is out of range (the model has " + std::to_string(list.size()) +
                                            (inputs ? " inputs)" : " outputs)"));
  *info = &list[index];
  return ISKRA_OK;
}

iskra_status io_count(const char* function, const iskra_model* model, bool inputs, size_t* count) {
  return guarded(function, [&](const char*) {
    if (model == nullptr) return null_argument(function, "model");
    if (count == nullptr) return null_argument(function, "count");
    *count = io_list(model, inputs).size();
    return ISKRA_OK;
  });
}

iskra_status io_name(const char* function, const iskra_model* model, bool inputs, size_t index,
                     const char** name) {
  return guarded(function, [&](const char*) {
    if (name == nullptr) return null_argument(function, "name");
    const iskra::IoInfo* info = nullptr;
    if (iskra_status s = io_at(function, model, inputs, index, &info)) return s;
    *name = info->name.c_str();
    return ISKRA_OK;
  });
}

iskra_status io_dtype(const char* function, const iskra_model* model, bool inputs, size_t index,
                      iskra_dtype* dtype) {
  return guarded(function, [&](const char*) {
    if (dtype == nullptr) return null_argument(function, "dtype");
    const iskra::IoInfo* info = nullptr;
    if (iskra_status s = io_at(function, model, inputs, index, &info)) return s;
    *dtype = static_cast<iskra_dtype>(info->dtype);
    return ISKRA_OK;
  });
}

iskra_status io_rank(const char* function, const iskra_model* model, bool inputs, size_t index, int64_t* rank) {
  return guarded(function, [&](const char*) {
    if (rank == nullptr) return null_argument(function, "rank");
    const iskra::IoInfo* info = nullptr;
    if (iskra_status s = io_at(function, model, inputs, index, &info)) return s;
    *rank = info->has_shape ? static_cast<int64_t>(info->shape.size()) : -1;
    return ISKRA_OK;
  });
}

iskra_status io_dims(const char* function, const iskra_model* model, bool inputs, size_t index, int64_t* dims,
                     size_t capacity) {
  return guarded(function, [&](const char*) {
    const iskra::IoInfo* info = nullptr;
    if (iskra_status s = io_at(function, model, inputs, index, &info)) return s;
    if (!info->has_shape)
      return fail(ISKRA_INVALID_ARGUMENT, std::string(function) + ": the rank of '" + info->name + "' is unknown");
    if (capacity < info->shape.size())
      return fail(ISKRA_INVALID_ARGUMENT, std::string(function) + ": '" + info->name + "' has rank " +
                                              std::to_string(info->shape.size()) + ", capacity is " +
                                              std::to_string(capacity));
    if (dims == nullptr && !info->shape.empty()) return null_argument(function, "dims");
    for (size_t i = 0; i < info->shape.size(); ++i)
      dims[i] = info->shape[i].is_known() ? info->shape[i].size : -1;
    return ISKRA_OK;
  });
}

iskra_status io_dim_name(const char* function, const iskra_model* model, bool inputs, size_t index, size_t axis,
                         const char** name) {
  return guarded(function, [&](const char*) {
    if (name == nullptr) return null_argument(function, "name");
    const iskra::IoInfo* info = nullptr;
    if (iskra_status s = io_at(function, model, inputs, index, &info)) return s;
    if (!info->has_shape || axis >= info->shape.size())
      return fail(ISKRA_INVALID_ARGUMENT, std::string(function) + ": '" + info->name + "' has no axis " +
                                              std::to_string(axis));
    *name = info->shape[axis].symbol.c_str();
    return ISKRA_OK;
  });
}

iskra_status create_tensor(int32_t dtype, const int64_t* dims, size_t rank, const void* data,
                           size_t data_bytes, bool copy, iskra_tensor** tensor) {
  const char* function = copy ? "iskra_tensor_create_copy" : "iskra_tensor_create";
  if (tensor == nullptr) return null_argument(function, "tensor");
  *tensor = nullptr;
  if (dims == nullptr && rank != 0) return null_argument(function, "dims");
  if (dtype_code_size(dtype) == 0)
    return fail(ISKRA_INVALID_ARGUMENT, std::string(function) + ": dtype " + std::to_string(dtype) + " (" +
                                            dtype_code_name(dtype) + ") cannot be stored in a tensor");
  iskra::Shape shape(dims, dims + rank);
  auto t = iskra::Tensor::allocate(static_cast<DType>(dtype), shape);
  if (!t.is_ok()) return fail(t.status().with_context(std::string(function) + ": "));
  if (copy) {
    if (data == nullptr && data_bytes != 0) return null_argument(function, "data");
    if (data_bytes != t->byte_size())
      return fail(ISKRA_INVALID_ARGUMENT, std::string(function) + ": " + t->describe() + " needs " +
                                              std::to_string(t->byte_size()) + " bytes, " +
                                              std::to_string(data_bytes) + " were given");
    if (data_bytes) std::memcpy(t->raw_data(), data, data_bytes);
  }
  *tensor = new iskra_tensor{std::move(t).value()};
  return ISKRA_OK;
}

}  // namespace

extern "C" {

const char* iskra_last_error(void) { return g_last_error.c_str(); }

const char* iskra_status_name(iskra_status status) {
  switch (status) {
    case ISKRA_OK: return "ok";
    case ISKRA_INVALID_MODEL: return "invalid model";
    case ISKRA_UNSUPPORTED: return "unsupported";
    case ISKRA_INVALID_ARGUMENT: return "invalid argument";
    case ISKRA_OUT_OF_MEMORY: return "out of memory";
    case ISKRA_IO_ERROR: return "i/o error";
    case ISKRA_INTERNAL: return "internal error";
    default: return "unknown status";
  }
}

const char* iskra_version(void) { return "0.1.0"; }

const char* iskra_dtype_name(iskra_dtype dtype) {
  return dtype_code_name(dtype_code(dtype));
}

size_t iskra_dtype_size(iskra_dtype dtype) {
  return dtype_code_size(dtype_code(dtype));
}

iskra_model_options iskra_model_options_default(void) {
  iskra_model_options options;
  options.threads = 1;
  options.memory_limit_bytes = 0;
  return options;
}

iskra_status iskra_model_load_file(const char* path, const iskra_model_options* options, iskra_model** model) {
  return guarded(__func__, [&](const char* function) {
    ISKRA_C_CHECK_ARG(model);
    *model = nullptr;
    ISKRA_C_CHECK_ARG(path);
    return load(iskra::load_model_file(path), options, model);
  });
}

iskra_status iskra_model_load_buffer(const void* data, size_t size, const iskra_model_options* options,
                                     iskra_model** model) {
  return guarded(__func__, [&](const char* function) {
    ISKRA_C_CHECK_ARG(model);
    *model = nullptr;
    ISKRA_C_CHECK_ARG(data);
    return load(iskra::load_model_buffer(data, size), options, model);
  });
}

void iskra_model_free(iskra_model* model) { delete model; }

iskra_status iskra_model_input_count(const iskra_model* model, size_t* count) {
  return io_count(__func__, model, true, count);
}
iskra_status iskra_model_input_name(const iskra_model* model, size_t index, const char** name) {
  return io_name(__func__, model, true, index, name);
}
iskra_status iskra_model_input_dtype(const iskra_model* model, size_t index, iskra_dtype* dtype) {
  return io_dtype(__func__, model, true, index, dtype);
}
iskra_status iskra_model_input_rank(const iskra_model* model, size_t index, int64_t* rank) {
  return io_rank(__func__, model, true, index, rank);
}
iskra_status iskra_model_input_dims(const iskra_model* model, size_t index, int64_t* dims, size_t capacity) {
  return io_dims(__func__, model, true, index, dims, capacity);
}
iskra_status iskra_model_input_dim_name(const iskra_model* model, size_t index, size_t axis, const char** name) {
  return io_dim_name(__func__, model, true, index, axis, name);
}

iskra_status iskra_model_output_count(const iskra_model* model, size_t* count) {
  return io_count(__func__, model, false, count);
}
iskra_status iskra_model_output_name(const iskra_model* model, size_t index, const char** name) {
  return io_name(__func__, model, false, index, name);
}
iskra_status iskra_model_output_dtype(const iskra_model* model, size_t index, iskra_dtype* dtype) {
  return io_dtype(__func__, model, false, index, dtype);
}
iskra_status iskra_model_output_rank(const iskra_model* model, size_t index, int64_t* rank) {
  return io_rank(__func__, model, false, index, rank);
}
iskra_status iskra_model_output_dims(const iskra_model* model, size_t index, int64_t* dims, size_t capacity) {
  return io_dims(__func__, model, false, index, dims, capacity);
}
iskra_status iskra_model_output_dim_name(const iskra_model* model, size_t index, size_t axis,
                                         const char** name) {
  return io_dim_name(__func__, model, false, index, axis, name);
}

iskra_status iskra_model_run(iskra_model* model, const char* const* input_names,
                             const iskra_tensor* const* inputs, size_t input_count, iskra_tensor** outputs,
                             size_t output_count) {
  return guarded(__func__, [&](const char* function) {
    if (outputs == nullptr && output_count != 0) return null_argument(function, "outputs");
    for (size_t i = 0; i < output_count; ++i) outputs[i] = nullptr;
    ISKRA_C_CHECK_ARG(model);
    if (input_count != 0) {
      ISKRA_C_CHECK_ARG(input_names);
      ISKRA_C_CHECK_ARG(inputs);
    }
    const iskra::Session& session = *model->session;
    const auto& infos = session.inputs();
    if (output_count != session.outputs().size())
      return fail(ISKRA_INVALID_ARGUMENT, "iskra_model_run: the model has " +
                                              std::to_string(session.outputs().size()) + " outputs, room for " +
                                              std::to_string(output_count) + " was given");

    // Map the caller's names onto the session's input order.
    std::vector<const iskra::Tensor*> ordered(infos.size(), nullptr);
    for (size_t i = 0; i < input_count; ++i) {
      if (input_names[i] == nullptr)
        return fail(ISKRA_INVALID_ARGUMENT, "iskra_model_run: input_names[" + std::to_string(i) + "] is NULL");
      if (inputs[i] == nullptr)
        return fail(ISKRA_INVALID_ARGUMENT, "iskra_model_run: inputs[" + std::to_string(i) + "] ('" +
                                                input_names[i] + "') is NULL");
      size_t slot = 0;
      while (slot < infos.size() && infos[slot].name != input_names[i]) ++slot;
      if (slot == infos.size()) {
        std::string known;
        for (const auto& info : infos) known += (known.empty() ? "'" : ", '") + info.name + "'";
        return fail(ISKRA_INVALID_ARGUMENT, std::string("iskra_model_run: the model has no input named '") +
                                                input_names[i] + "' (its inputs: " +
                                                (known.empty() ? "none" : known) + ")");
      }
      if (ordered[slot] != nullptr)
        return fail(ISKRA_INVALID_ARGUMENT,
                    std::string("iskra_model_run: input '") + input_names[i] + "' is given twice");
      ordered[slot] = &inputs[i]->tensor;
    }
    std::vector<iskra::Tensor> args;
    args.reserve(infos.size());
    for (size_t slot = 0; slot < infos.size(); ++slot) {
      if (ordered[slot] == nullptr)
        return fail(ISKRA_INVALID_ARGUMENT, "iskra_model_run: missing input '" + infos[slot].name + "'");
      args.push_back(*ordered[slot]);
    }

    std::vector<iskra::Tensor> results;
    Status status = model->session->run(args, results);
    if (!status.is_ok()) return fail(status);
    if (results.size() != output_count)
      return fail(ISKRA_INTERNAL, "iskra_model_run: the session returned " + std::to_string(results.size()) +
                                      " outputs, expected " + std::to_string(output_count));
    std::vector<std::unique_ptr<iskra_tensor>> owned;
    owned.reserve(results.size());
    for (auto& r : results) owned.push_back(std::make_unique<iskra_tensor>(iskra_tensor{std::move(r)}));
    for (size_t i = 0; i < output_count; ++i) outputs[i] = owned[i].release();
    return ISKRA_OK;
  });
}

iskra_status iskra_tensor_create(iskra_dtype dtype, const int64_t* dims, size_t rank, iskra_tensor** tensor) {
  return guarded(__func__, [&](const char*) { return create_tensor(dtype_code(dtype), dims, rank, nullptr, 0, false, tensor); });
}

iskra_status iskra_tensor_create_copy(iskra_dtype dtype, const int64_t* dims, size_t rank, const void* data,
                                      size_t data_bytes, iskra_tensor** tensor) {
  return guarded(__func__, [&](const char*) { return create_tensor(dtype_code(dtype), dims, rank, data, data_bytes, true, tensor); });
}

void iskra_tensor_free(iskra_tensor* tensor) { delete tensor; }

iskra_status iskra_tensor_data(iskra_tensor* tensor, void** data) {
  return guarded(__func__, [&](const char* function) {
    ISKRA_C_CHECK_ARG(tensor);
    ISKRA_C_CHECK_ARG(data);
    *data = tensor->tensor.raw_data();
    return ISKRA_OK;
  });
}

iskra_status iskra_tensor_dtype(const iskra_tensor* tensor, iskra_dtype* dtype) {
  return guarded(__func__, [&](const char* function) {
    ISKRA_C_CHECK_ARG(tensor);
    ISKRA_C_CHECK_ARG(dtype);
    *dtype = static_cast<iskra_dtype>(tensor->tensor.dtype());
    return ISKRA_OK;
  });
}

iskra_status iskra_tensor_rank(const iskra_tensor* tensor, size_t* rank) {
  return guarded(__func__, [&](const char* function) {
    ISKRA_C_CHECK_ARG(tensor);
    ISKRA_C_CHECK_ARG(rank);
    *rank = tensor->tensor.shape().size();
    return ISKRA_OK;
  });
}

iskra_status iskra_tensor_dims(const iskra_tensor* tensor, int64_t* dims, size_t capacity) {
  return guarded(__func__, [&](const char* function) {
    ISKRA_C_CHECK_ARG(tensor);
    const iskra::Shape& shape = tensor->tensor.shape();
    if (capacity < shape.size())
      return fail(ISKRA_INVALID_ARGUMENT, "iskra_tensor_dims: the tensor has rank " + std::to_string(shape.size()) +
                                              ", capacity is " + std::to_string(capacity));
    if (!shape.empty()) ISKRA_C_CHECK_ARG(dims);
    for (size_t i = 0; i < shape.size(); ++i) dims[i] = shape[i];
    return ISKRA_OK;
  });
}

iskra_status iskra_tensor_element_count(const iskra_tensor* tensor, size_t* count) {
  return guarded(__func__, [&](const char* function) {
    ISKRA_C_CHECK_ARG(tensor);
    ISKRA_C_CHECK_ARG(count);
    *count = static_cast<size_t>(tensor->tensor.element_count());
    return ISKRA_OK;
  });
}

iskra_status iskra_tensor_byte_size(const iskra_tensor* tensor, size_t* bytes) {
  return guarded(__func__, [&](const char* function) {
    ISKRA_C_CHECK_ARG(tensor);
    ISKRA_C_CHECK_ARG(bytes);
    *bytes = tensor->tensor.byte_size();
    return ISKRA_OK;
  });
}

}  // extern "C"
