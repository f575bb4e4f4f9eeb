/* Tests of the C API, compiled as C99: loads the ONNX backend test model
 * node/test_relu (y = max(x, 0), x and y f32[3,4,5]) and checks the model
 * description, runs, and that every misuse gives an error, not a crash.
 *
 * usage: test_c_api ONNX_BACKEND_DIR    (exit 77 = skipped: no test data) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iskra/iskra.h"

static int g_failures = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                   \
    }                                                                 \
  } while (0)

/* Checks that `call` returns `status` and leaves a non-empty message containing `needle`. */
#define CHECK_FAILS(call, status, needle)                                                    \
  do {                                                                                       \
    iskra_status s_ = (call);                                                                \
    if (s_ != (status) || strstr(iskra_last_error(), (needle)) == NULL) {                    \
      fprintf(stderr, "%s:%d: %s returned %s (\"%s\"), expected %s with \"%s\"\n", __FILE__, \
              __LINE__, #call, iskra_status_name(s_), iskra_last_error(),                    \
              iskra_status_name(status), (needle));                                          \
      ++g_failures;                                                                          \
    }                                                                                        \
  } while (0)

#define CHECK_OK(call)                                                                            \
  do {                                                                                            \
    iskra_status s_ = (call);                                                                     \
    if (s_ != ISKRA_OK) {                                                                         \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, iskra_last_error()); \
      ++g_failures;                                                                               \
    }                                                                                             \
  } while (0)

enum { kCount = 3 * 4 * 5 };
static const int64_t kDims[3] = {3, 4, 5};

static char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  char* data;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  data = (char*)malloc((size_t)n + 1);
  if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return data;
}

static void check_description(const iskra_model* model) {
  size_t count = 0;
  const char* name = NULL;
  iskra_dtype dtype = ISKRA_DTYPE_UNDEFINED;
  int64_t rank = 0;
  int64_t dims[3] = {0, 0, 0};
  int64_t small[2];

  CHECK_OK(iskra_model_input_count(model, &count));
  CHECK(count == 1);
  CHECK_OK(iskra_model_output_count(model, &count));
  CHECK(count == 1);
  CHECK_OK(iskra_model_input_name(model, 0, &name));
  CHECK(name && strcmp(name, "x") == 0);
  CHECK_OK(iskra_model_output_name(model, 0, &name));
  CHECK(name && strcmp(name, "y") == 0);
  CHECK_OK(iskra_model_input_dtype(model, 0, &dtype));
  CHECK(dtype == ISKRA_DTYPE_F32);
  CHECK_OK(iskra_model_output_dtype(model, 0, &dtype));
  CHECK(dtype == ISKRA_DTYPE_F32);
  CHECK_OK(iskra_model_input_rank(model, 0, &rank));
  CHECK(rank == 3);
  CHECK_OK(iskra_model_input_dims(model, 0, dims, 3));
  CHECK(dims[0] == 3 && dims[1] == 4 && dims[2] == 5);
  CHECK_OK(iskra_model_output_rank(model, 0, &rank));
  CHECK(rank == 3);
  CHECK_OK(iskra_model_output_dims(model, 0, dims, 3));
  CHECK(dims[0] == 3 && dims[1] == 4 && dims[2] == 5);
  CHECK_OK(iskra_model_input_dim_name(model, 0, 1, &name));
  CHECK(name && strcmp(name, "") == 0);

  CHECK_FAILS(iskra_model_input_name(model, 1, &name), ISKRA_INVALID_ARGUMENT, "out of range");
  CHECK_FAILS(iskra_model_output_dtype(model, 7, &dtype), ISKRA_INVALID_ARGUMENT, "out of range");
  CHECK_FAILS(iskra_model_input_dims(model, 0, small, 2), ISKRA_INVALID_ARGUMENT, "capacity");
  CHECK_FAILS(iskra_model_input_dim_name(model, 0, 3, &name), ISKRA_INVALID_ARGUMENT, "axis 3");
  /* A success clears the last error. */
  CHECK_OK(iskra_model_input_count(model, &count));
  CHECK(strcmp(iskra_last_error(), "") == 0);
}

/* Runs relu on a known input and checks y == max(x, 0). */
static void check_run(iskra_model* model) {
  float x[kCount];
  const char* names[1] = {"x"};
  const iskra_tensor* inputs[1];
  iskra_tensor* input = NULL;
  iskra_tensor* outputs[1] = {NULL};
  void* data = NULL;
  iskra_dtype dtype = ISKRA_DTYPE_UNDEFINED;
  size_t rank = 0, count = 0, bytes = 0;
  int64_t dims[3] = {0, 0, 0};
  int i;

  for (i = 0; i < kCount; ++i) x[i] = (float)(i - 30) * 0.25f;
  CHECK_OK(iskra_tensor_create_copy(ISKRA_DTYPE_F32, kDims, 3, x, sizeof x, &input));
  inputs[0] = input;
  CHECK_OK(iskra_model_run(model, names, inputs, 1, outputs, 1));
  if (outputs[0] == NULL) {
    fprintf(stderr, "run gave no output: %s\n", iskra_last_error());
    ++g_failures;
    iskra_tensor_free(input);
    return;
  }
  CHECK_OK(iskra_tensor_dtype(outputs[0], &dtype));
  CHECK(dtype == ISKRA_DTYPE_F32);
  CHECK_OK(iskra_tensor_rank(outputs[0], &rank));
  CHECK(rank == 3);
  CHECK_OK(iskra_tensor_dims(outputs[0], dims, 3));
  CHECK(dims[0] == 3 && dims[1] == 4 && dims[2] == 5);
  CHECK_OK(iskra_tensor_element_count(outputs[0], &count));
  CHECK(count == kCount);
  CHECK_OK(iskra_tensor_byte_size(outputs[0], &bytes));
  CHECK(bytes == sizeof x);
  CHECK_OK(iskra_tensor_data(outputs[0], &data));
  CHECK(data != NULL);
  if (data) {
    const float* y = (const float*)data;
    for (i = 0; i < kCount; ++i) CHECK(y[i] == (x[i] > 0 ? x[i] : 0.0f));
  }
  iskra_tensor_free(outputs[0]);
  iskra_tensor_free(input);
}

static void check_run_errors(iskra_model* model) {
  iskra_tensor* good = NULL;
  iskra_tensor* wrong_shape = NULL;
  iskra_tensor* wrong_dtype = NULL;
  iskra_tensor* outputs[2] = {NULL, NULL};
  const iskra_tensor* inputs[2];
  const char* names[2];
  int64_t dims[2] = {4, 5};

  CHECK_OK(iskra_tensor_create(ISKRA_DTYPE_F32, kDims, 3, &good));
  CHECK_OK(iskra_tensor_create(ISKRA_DTYPE_F32, dims, 2, &wrong_shape));
  CHECK_OK(iskra_tensor_create(ISKRA_DTYPE_I64, kDims, 3, &wrong_dtype));

  names[0] = "nope";
  inputs[0] = good;
  CHECK_FAILS(iskra_model_run(model, names, inputs, 1, outputs, 1), ISKRA_INVALID_ARGUMENT, "'nope'");
  CHECK(outputs[0] == NULL);
  CHECK_FAILS(iskra_model_run(model, names, inputs, 0, outputs, 1), ISKRA_INVALID_ARGUMENT, "missing input 'x'");
  names[0] = "x";
  names[1] = "x";
  inputs[1] = good;
  CHECK_FAILS(iskra_model_run(model, names, inputs, 2, outputs, 1), ISKRA_INVALID_ARGUMENT, "twice");
  CHECK_FAILS(iskra_model_run(model, names, inputs, 1, outputs, 2), ISKRA_INVALID_ARGUMENT, "1 outputs");
  CHECK(outputs[0] == NULL && outputs[1] == NULL);
  inputs[0] = wrong_shape;
  CHECK_FAILS(iskra_model_run(model, names, inputs, 1, outputs, 1), ISKRA_INVALID_ARGUMENT, "shape");
  inputs[0] = wrong_dtype;
  CHECK_FAILS(iskra_model_run(model, names, inputs, 1, outputs, 1), ISKRA_INVALID_ARGUMENT, "f32");
  inputs[0] = NULL;
  CHECK_FAILS(iskra_model_run(model, names, inputs, 1, outputs, 1), ISKRA_INVALID_ARGUMENT, "NULL");
  names[0] = NULL;
  inputs[0] = good;
  CHECK_FAILS(iskra_model_run(model, names, inputs, 1, outputs, 1), ISKRA_INVALID_ARGUMENT, "NULL");
  CHECK(outputs[0] == NULL);

  iskra_tensor_free(good);
  iskra_tensor_free(wrong_shape);
  iskra_tensor_free(wrong_dtype);
}

static void check_null_arguments(iskra_model* model) {
  iskra_tensor* t = NULL;
  iskra_model* m = NULL;
  size_t n = 0;
  int64_t rank = 0;
  const char* name = NULL;
  iskra_dtype dtype;
  void* data = NULL;
  int64_t dims[3];
  float x = 1.0f;
  const char* names[1] = {"x"};
  iskra_tensor* outputs[1] = {NULL};

  CHECK_FAILS(iskra_model_load_file(NULL, NULL, &m), ISKRA_INVALID_ARGUMENT, "path");
  CHECK(m == NULL);
  CHECK_FAILS(iskra_model_load_file("x.onnx", NULL, NULL), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_load_buffer(NULL, 10, NULL, &m), ISKRA_INVALID_ARGUMENT, "data");
  CHECK_FAILS(iskra_model_input_count(NULL, &n), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_input_count(model, NULL), ISKRA_INVALID_ARGUMENT, "count");
  CHECK_FAILS(iskra_model_output_count(NULL, &n), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_input_name(NULL, 0, &name), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_input_name(model, 0, NULL), ISKRA_INVALID_ARGUMENT, "name");
  CHECK_FAILS(iskra_model_output_name(model, 0, NULL), ISKRA_INVALID_ARGUMENT, "name");
  CHECK_FAILS(iskra_model_input_dtype(model, 0, NULL), ISKRA_INVALID_ARGUMENT, "dtype");
  CHECK_FAILS(iskra_model_output_dtype(NULL, 0, &dtype), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_input_rank(model, 0, NULL), ISKRA_INVALID_ARGUMENT, "rank");
  CHECK_FAILS(iskra_model_output_rank(NULL, 0, &rank), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_input_dims(model, 0, NULL, 3), ISKRA_INVALID_ARGUMENT, "dims");
  CHECK_FAILS(iskra_model_output_dims(NULL, 0, dims, 3), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_input_dim_name(model, 0, 0, NULL), ISKRA_INVALID_ARGUMENT, "name");
  CHECK_FAILS(iskra_model_output_dim_name(NULL, 0, 0, &name), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_run(NULL, names, NULL, 0, outputs, 1), ISKRA_INVALID_ARGUMENT, "model");
  CHECK_FAILS(iskra_model_run(model, NULL, NULL, 1, outputs, 1), ISKRA_INVALID_ARGUMENT, "input_names");
  CHECK_FAILS(iskra_model_run(model, names, NULL, 1, outputs, 1), ISKRA_INVALID_ARGUMENT, "inputs");
  CHECK_FAILS(iskra_model_run(model, names, NULL, 1, NULL, 1), ISKRA_INVALID_ARGUMENT, "outputs");

  CHECK_FAILS(iskra_tensor_create(ISKRA_DTYPE_F32, NULL, 2, &t), ISKRA_INVALID_ARGUMENT, "dims");
  CHECK(t == NULL);
  CHECK_FAILS(iskra_tensor_create(ISKRA_DTYPE_F32, kDims, 3, NULL), ISKRA_INVALID_ARGUMENT, "tensor");
  CHECK_FAILS(iskra_tensor_create_copy(ISKRA_DTYPE_F32, kDims, 3, NULL, 240, &t), ISKRA_INVALID_ARGUMENT, "data");
  CHECK_FAILS(iskra_tensor_data(NULL, &data), ISKRA_INVALID_ARGUMENT, "tensor");
  CHECK_FAILS(iskra_tensor_dtype(NULL, &dtype), ISKRA_INVALID_ARGUMENT, "tensor");
  CHECK_FAILS(iskra_tensor_rank(NULL, &n), ISKRA_INVALID_ARGUMENT, "tensor");
  CHECK_FAILS(iskra_tensor_dims(NULL, dims, 3), ISKRA_INVALID_ARGUMENT, "tensor");
  CHECK_FAILS(iskra_tensor_element_count(NULL, &n), ISKRA_INVALID_ARGUMENT, "tensor");
  CHECK_FAILS(iskra_tensor_byte_size(NULL, &n), ISKRA_INVALID_ARGUMENT, "tensor");

  /* A scalar needs no dims. */
  CHECK_OK(iskra_tensor_create_copy(ISKRA_DTYPE_F32, NULL, 0, &x, sizeof x, &t));
  CHECK_FAILS(iskra_tensor_data(t, NULL), ISKRA_INVALID_ARGUMENT, "data");
  CHECK_FAILS(iskra_tensor_dtype(t, NULL), ISKRA_INVALID_ARGUMENT, "dtype");
  CHECK_FAILS(iskra_tensor_rank(t, NULL), ISKRA_INVALID_ARGUMENT, "rank");
  CHECK_FAILS(iskra_tensor_element_count(t, NULL), ISKRA_INVALID_ARGUMENT, "count");
  CHECK_FAILS(iskra_tensor_byte_size(t, NULL), ISKRA_INVALID_ARGUMENT, "bytes");
  CHECK_OK(iskra_tensor_rank(t, &n));
  CHECK(n == 0);
  CHECK_OK(iskra_tensor_dims(t, NULL, 0));
  iskra_tensor_free(t);

  iskra_model_free(NULL);
  iskra_tensor_free(NULL);
}

static void check_tensor_errors(void) {
  iskra_tensor* t = NULL;
  int64_t negative[2] = {2, -1};
  int64_t huge[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 16};
  int64_t dims[1];
  float x[4] = {1, 2, 3, 4};
  int64_t four[1] = {4};

  CHECK_FAILS(iskra_tensor_create(ISKRA_DTYPE_F32, negative, 2, &t), ISKRA_INVALID_ARGUMENT, "negative");
  CHECK(t == NULL);
  CHECK_FAILS(iskra_tensor_create(ISKRA_DTYPE_F32, huge, 3, &t), ISKRA_INVALID_ARGUMENT, "overflow");
  CHECK_FAILS(iskra_tensor_create(ISKRA_DTYPE_STRING, four, 1, &t), ISKRA_INVALID_ARGUMENT, "string");
  CHECK_FAILS(iskra_tensor_create((iskra_dtype)99, four, 1, &t), ISKRA_INVALID_ARGUMENT, "99");
  CHECK_FAILS(iskra_tensor_create_copy(ISKRA_DTYPE_F32, four, 1, x, 15, &t), ISKRA_INVALID_ARGUMENT, "16 bytes");
  CHECK(t == NULL);
  CHECK_OK(iskra_tensor_create_copy(ISKRA_DTYPE_F32, four, 1, x, sizeof x, &t));
  CHECK_FAILS(iskra_tensor_dims(t, dims, 0), ISKRA_INVALID_ARGUMENT, "capacity");
  iskra_tensor_free(t);

  CHECK(strcmp(iskra_dtype_name(ISKRA_DTYPE_F32), "f32") == 0);
  CHECK(strcmp(iskra_dtype_name((iskra_dtype)99), "unknown") == 0);
  CHECK(iskra_dtype_size(ISKRA_DTYPE_I64) == 8);
  CHECK(iskra_dtype_size(ISKRA_DTYPE_BOOL) == 1);
  CHECK(iskra_dtype_size((iskra_dtype)-5) == 0);
  CHECK(strcmp(iskra_status_name(ISKRA_IO_ERROR), "i/o error") == 0);
  CHECK(iskra_version()[0] != '\0');
}

static void check_load_errors(const char* model_path) {
  iskra_model* m = NULL;
  iskra_model_options options = iskra_model_options_default();
  const char text[] = "this is not a model";
  size_t size = 0;
  char* bytes = read_file(model_path, &size);

  CHECK(options.threads == 1);
  CHECK_FAILS(iskra_model_load_file("/nonexistent/model.onnx", NULL, &m), ISKRA_IO_ERROR, "/nonexistent/model.onnx");
  CHECK(m == NULL);
  CHECK_FAILS(iskra_model_load_buffer(text, sizeof text, NULL, &m), ISKRA_INVALID_MODEL, "");
  CHECK(m == NULL);
  options.threads = 0;
  CHECK_FAILS(iskra_model_load_file(model_path, &options, &m), ISKRA_INVALID_ARGUMENT, "threads");
  CHECK(m == NULL);
  if (bytes) {
    size_t n;
    /* Every truncation of the model is an error or a valid model, never a crash. */
    for (n = 0; n < size; ++n) {
      if (iskra_model_load_buffer(bytes, n, NULL, &m) == ISKRA_OK) {
        iskra_model_free(m);
        m = NULL;
      } else {
        CHECK(iskra_last_error()[0] != '\0');
      }
    }
  }
  free(bytes);
}

int main(int argc, char** argv) {
  char path[4096];
  iskra_model* model = NULL;
  char* bytes;
  size_t size = 0;
  FILE* probe;

  if (argc != 2) {
    fprintf(stderr, "usage: %s ONNX_BACKEND_DIR\n", argv[0]);
    return 2;
  }
  snprintf(path, sizeof path, "%s/node/test_relu/model.onnx", argv[1]);
  probe = fopen(path, "rb");
  if (!probe) {
    printf("SKIP: %s not found (run scripts/setup)\n", path);
    return 77;
  }
  fclose(probe);

  CHECK_OK(iskra_model_load_file(path, NULL, &model));
  if (!model) return 1;
  check_description(model);
  check_run(model);
  check_run(model); /* a second run reuses the plan */
  check_run_errors(model);
  check_null_arguments(model);
  iskra_model_free(model);

  bytes = read_file(path, &size);
  CHECK(bytes != NULL);
  if (bytes) {
    iskra_model_options options = iskra_model_options_default();
    options.threads = 2;
    model = NULL;
    CHECK_OK(iskra_model_load_buffer(bytes, size, &options, &model));
    memset(bytes, 0, size); /* the buffer is not used after loading */
    free(bytes);
    if (model) {
      check_description(model);
      check_run(model);
      iskra_model_free(model);
    }
  }

  check_tensor_errors();
  check_load_errors(path);

  if (g_failures) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("all C API checks passed\n");
  return 0;
}
