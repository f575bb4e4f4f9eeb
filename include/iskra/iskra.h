/*
 * Iskra C API: load a model (ONNX, ...) and run it on the CPU.
 *
 * C99 and C++ compatible. Conventions:
 *  - Objects are opaque handles: iskra_model (a loaded, ready-to-run model)
 *    and iskra_tensor (a dense, row-major array). Every *_create / *_load
 *    function has a matching *_free; the free functions accept NULL.
 *  - Every other function returns an iskra_status. On failure it returns a
 *    code other than ISKRA_OK, leaves its output arguments untouched (or NULL
 *    for handles) and stores a message for iskra_last_error(). No function
 *    crashes on a NULL argument: it returns ISKRA_INVALID_ARGUMENT instead.
 *  - Threads: different models (even loaded from one file) run in parallel
 *    from different threads. One model runs one call at a time: a call of
 *    iskra_model_run made while another thread is running the same model
 *    fails with ISKRA_INVALID_ARGUMENT ("already running a call"), without
 *    disturbing the running call.
 *
 * Minimal use:
 *
 *   iskra_model* model = NULL;
 *   if (iskra_model_load_file("model.onnx", NULL, &model) != ISKRA_OK) {
 *     fprintf(stderr, "%s\n", iskra_last_error());
 *     return 1;
 *   }
 *   int64_t dims[2] = {1, 4};
 *   float x[4] = {1, 2, 3, 4};
 *   iskra_tensor* input = NULL;
 *   iskra_tensor_create_copy(ISKRA_DTYPE_F32, dims, 2, x, sizeof x, &input);
 *   const char* names[1] = {"x"};
 *   const iskra_tensor* inputs[1] = {input};
 *   iskra_tensor* outputs[1] = {NULL};
 *   if (iskra_model_run(model, names, inputs, 1, outputs, 1) == ISKRA_OK) {
 *     void* y = NULL;
 *     iskra_tensor_data(outputs[0], &y);
 *     ...
 *     iskra_tensor_free(outputs[0]);
 *   }
 *   iskra_tensor_free(input);
 *   iskra_model_free(model);
 */
#ifndef ISKRA_ISKRA_H_
#define ISKRA_ISKRA_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ---------------------------------------------------- */

typedef enum iskra_status {
  ISKRA_OK = 0,
  ISKRA_INVALID_MODEL = 1,    /* the model file is malformed or inconsistent */
  ISKRA_UNSUPPORTED = 2,      /* valid model, but uses an op/dtype Iskra does not run */
  ISKRA_INVALID_ARGUMENT = 3, /* bad argument: NULL, wrong shape or dtype, unknown name */
  ISKRA_OUT_OF_MEMORY = 4,
  ISKRA_IO_ERROR = 5,         /* a file could not be read */
  ISKRA_INTERNAL = 6,         /* a bug in Iskra */
  ISKRA_STATUS_MAX_ENUM = 0x7FFFFFFF /* not a status: makes the enum 32-bit, any int value valid */
} iskra_status;

/* The message of the last failed call on this thread ("" if none). Every
 * function returning an iskra_status clears it on entry. The pointer stays
 * valid until the next Iskra call on this thread. */
const char* iskra_last_error(void);

/* A constant name for a status: "ok", "invalid model", ... */
const char* iskra_status_name(iskra_status status);

/* The library version, e.g. "0.1.0". */
const char* iskra_version(void);

/* ---- element types ---------------------------------------------------------- */

/* Values match ONNX TensorProto.DataType. */
typedef enum iskra_dtype {
  ISKRA_DTYPE_UNDEFINED = 0,
  ISKRA_DTYPE_F32 = 1,
  ISKRA_DTYPE_U8 = 2,
  ISKRA_DTYPE_I8 = 3,
  ISKRA_DTYPE_U16 = 4,
  ISKRA_DTYPE_I16 = 5,
  ISKRA_DTYPE_I32 = 6,
  ISKRA_DTYPE_I64 = 7,
  ISKRA_DTYPE_STRING = 8, /* named in model descriptions only; no tensor holds strings */
  ISKRA_DTYPE_BOOL = 9,   /* one byte per element, 0 or 1 */
  ISKRA_DTYPE_F16 = 10,   /* IEEE binary16 bits in a uint16_t */
  ISKRA_DTYPE_F64 = 11,
  ISKRA_DTYPE_U32 = 12,
  ISKRA_DTYPE_U64 = 13,
  ISKRA_DTYPE_BF16 = 16,  /* bfloat16 bits in a uint16_t */
  /* Low-precision types: ONE BYTE per element in memory, also the sub-byte
   * ones (a 4-bit or 2-bit value per byte: signed ones sign-extended, float4
   * as its 4-bit code). Packing happens only in model files. */
  ISKRA_DTYPE_F8E4M3FN = 17,
  ISKRA_DTYPE_F8E4M3FNUZ = 18,
  ISKRA_DTYPE_F8E5M2 = 19,
  ISKRA_DTYPE_F8E5M2FNUZ = 20,
  ISKRA_DTYPE_U4 = 21,
  ISKRA_DTYPE_I4 = 22,
  ISKRA_DTYPE_F4E2M1 = 23,
  ISKRA_DTYPE_F8E8M0 = 24,
  ISKRA_DTYPE_U2 = 25,
  ISKRA_DTYPE_I2 = 26,
  ISKRA_DTYPE_MAX_ENUM = 0x7FFFFFFF /* not a dtype: makes the enum 32-bit, any int value valid */
} iskra_dtype;

/* "f32", "i64", "bool", ...; "unknown" for values outside the enum. */
const char* iskra_dtype_name(iskra_dtype dtype);
/* Bytes per element; 0 for UNDEFINED, STRING and unknown values. */
size_t iskra_dtype_size(iskra_dtype dtype);

/* ---- models ------------------------------------------------------------------ */

typedef struct iskra_model iskra_model;
typedef struct iskra_tensor iskra_tensor;

typedef struct iskra_model_options {
  int threads; /* worker threads for running; >= 1 (default 1) */
  /* Most bytes of tensors the model may hold: its constants, the working memory
   * planned for its inputs' shapes and buffers made at run time. A load or run
   * that would need more fails with ISKRA_OUT_OF_MEMORY naming the node, before
   * allocating. 0 (the default): no limit. Protects an app from a hostile model. */
  size_t memory_limit_bytes;
} iskra_model_options;

/* The default options; pass NULL to the load functions to get them. */
iskra_model_options iskra_model_options_default(void);

/* Loads a model file; the format is recognized from its content. */
iskra_status iskra_model_load_file(const char* path, const iskra_model_options* options,
                                   iskra_model** model);
/* Loads a model from memory. The buffer is not used after the call returns. */
iskra_status iskra_model_load_buffer(const void* data, size_t size, const iskra_model_options* options,
                                     iskra_model** model);
void iskra_model_free(iskra_model* model);

/* Inputs and outputs, in the model's order. Names stay valid while the model
 * lives. Shapes are as the model declares them: rank -1 if unknown, and a dim
 * of -1 where the size is unknown or symbolic (its symbol, e.g. "batch", is
 * returned by *_dim_name, or "" if it has none). */
iskra_status iskra_model_input_count(const iskra_model* model, size_t* count);
iskra_status iskra_model_input_name(const iskra_model* model, size_t index, const char** name);
iskra_status iskra_model_input_dtype(const iskra_model* model, size_t index, iskra_dtype* dtype);
iskra_status iskra_model_input_rank(const iskra_model* model, size_t index, int64_t* rank);
/* Writes `rank` dims into `dims`; fails if capacity < rank. */
iskra_status iskra_model_input_dims(const iskra_model* model, size_t index, int64_t* dims, size_t capacity);
iskra_status iskra_model_input_dim_name(const iskra_model* model, size_t index, size_t axis,
                                        const char** name);

iskra_status iskra_model_output_count(const iskra_model* model, size_t* count);
iskra_status iskra_model_output_name(const iskra_model* model, size_t index, const char** name);
iskra_status iskra_model_output_dtype(const iskra_model* model, size_t index, iskra_dtype* dtype);
iskra_status iskra_model_output_rank(const iskra_model* model, size_t index, int64_t* rank);
iskra_status iskra_model_output_dims(const iskra_model* model, size_t index, int64_t* dims, size_t capacity);
iskra_status iskra_model_output_dim_name(const iskra_model* model, size_t index, size_t axis,
                                         const char** name);

/* Runs the model. `input_names[i]` names the model input that `inputs[i]`
 * feeds; every model input must be given exactly once, in any order.
 * `outputs` has room for `output_count` handles, which must equal the model's
 * output count; on success it receives new tensors in the model's output
 * order, which the caller frees with iskra_tensor_free. On failure every
 * entry of `outputs` is set to NULL. */
iskra_status iskra_model_run(iskra_model* model, const char* const* input_names,
                             const iskra_tensor* const* inputs, size_t input_count, iskra_tensor** outputs,
                             size_t output_count);

/* ---- tensors ----------------------------------------------------------------- */

/* A new zero-filled tensor. `dims` may be NULL when rank is 0 (a scalar). */
iskra_status iskra_tensor_create(iskra_dtype dtype, const int64_t* dims, size_t rank, iskra_tensor** tensor);
/* A new tensor holding a copy of `data`, whose size must be exactly
 * product(dims) * iskra_dtype_size(dtype) bytes. */
iskra_status iskra_tensor_create_copy(iskra_dtype dtype, const int64_t* dims, size_t rank, const void* data,
                                      size_t data_bytes, iskra_tensor** tensor);
void iskra_tensor_free(iskra_tensor* tensor);

/* The element buffer (64-byte aligned, row-major), writable; valid while the
 * tensor lives. May be non-NULL even for a tensor with no elements. */
iskra_status iskra_tensor_data(iskra_tensor* tensor, void** data);
iskra_status iskra_tensor_dtype(const iskra_tensor* tensor, iskra_dtype* dtype);
iskra_status iskra_tensor_rank(const iskra_tensor* tensor, size_t* rank);
/* Writes `rank` dims into `dims`; fails if capacity < rank. */
iskra_status iskra_tensor_dims(const iskra_tensor* tensor, int64_t* dims, size_t capacity);
iskra_status iskra_tensor_element_count(const iskra_tensor* tensor, size_t* count);
iskra_status iskra_tensor_byte_size(const iskra_tensor* tensor, size_t* bytes);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ISKRA_ISKRA_H_ */
