// Out of memory during load or run gives an error, not a crash, and leaks
// nothing. This binary replaces the global operator new (every heap
// allocation of Iskra, protobuf and the standard library, the nothrow forms
// Iskra's tensor buffers use included) with one that fails the N-th
// allocation after it is armed. For a few real models, N runs over every
// allocation a successful load + run makes: each must end in success or in a
// clean error status through the C API, and the number of live allocations
// must return to what it was before the load.
//
// Buffers of 2 MiB and more are mapped (base/buffer.cc), not allocated with
// new, so the models here are small enough that every buffer comes from new.
// The mapped paths (the model file, large weights and arenas, worker stacks)
// are tested apart: a child process loads and runs a larger model under an
// address-space limit (RLIMIT_AS) that grows step by step, and must end in
// success or a clean error each time.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "iskra/iskra.h"

namespace {

std::atomic<long> g_live{0};          // allocations not yet freed
std::atomic<long> g_countdown{-1};    // allocations left before the failing one; < 0: disarmed
std::atomic<long> g_seen{0};          // allocations inside C API calls (how many a load + run makes)
std::atomic<bool> g_in_api{false};    // load_and_run is inside a C API call

void* counted_alloc(std::size_t size, std::size_t align) {
  // Only allocations made inside Iskra (on any of its threads) may fail, not the
  // test's own bookkeeping.
  if (g_in_api.load(std::memory_order_relaxed)) {
    g_seen.fetch_add(1, std::memory_order_relaxed);
    if (g_countdown.load(std::memory_order_relaxed) >= 0 && g_countdown.fetch_sub(1) == 0) return nullptr;
  }
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (size + align - 1) / align * align)
                                              : std::malloc(size ? size : 1);
  if (p) g_live.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void counted_free(void* p) {
  if (!p) return;
  g_live.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}

void* throwing_alloc(std::size_t size, std::size_t align) {
  void* p = counted_alloc(size, align);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t size) { return throwing_alloc(size, 0); }
void* operator new[](std::size_t size) { return throwing_alloc(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) { return throwing_alloc(size, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return throwing_alloc(size, static_cast<std::size_t>(a)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size, 0); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size, 0); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(size, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }

namespace {

// Leaves the C API's per-thread last-error string holding a heap message, so
// that "live allocations" compares like with like before and after a call
// that may have failed.
void settle_last_error() {
  iskra_model* none = nullptr;
  EXPECT_EQ(iskra_model_load_buffer(nullptr, 0, nullptr, &none), ISKRA_INVALID_ARGUMENT);
}

struct Outcome {
  iskra_status status = ISKRA_OK;
  std::string error;
};

// Loads `path`, runs it once on zero inputs (unknown dims as 1), frees everything.
// Allocations may fail only inside the C API calls (`call`), not in the test's
// own bookkeeping between them.
Outcome load_and_run(const std::string& path, int threads) {
  Outcome outcome;
  auto call = [&](auto&& api_call) {  // true when the call succeeded
    g_in_api = true;
    const iskra_status s = api_call();
    g_in_api = false;
    if (s != ISKRA_OK) {
      outcome.status = s;
      const char* e = iskra_last_error();
      outcome.error = e ? e : "";
    }
    return s == ISKRA_OK;
  };
  iskra_model_options options = iskra_model_options_default();
  options.threads = threads;
  iskra_model* model = nullptr;
  if (!call([&] { return iskra_model_load_file(path.c_str(), &options, &model); })) return outcome;
  size_t n_in = 0, n_out = 0;
  bool ok = call([&] { return iskra_model_input_count(model, &n_in); }) &&
            call([&] { return iskra_model_output_count(model, &n_out); });
  std::vector<iskra_tensor*> inputs;
  std::vector<const char*> names;
  for (size_t i = 0; ok && i < n_in; ++i) {
    iskra_dtype dtype = ISKRA_DTYPE_UNDEFINED;
    int64_t rank = 0;
    int64_t dims[8];
    const char* name = nullptr;
    ok = call([&] { return iskra_model_input_name(model, i, &name); }) &&
         call([&] { return iskra_model_input_dtype(model, i, &dtype); }) &&
         call([&] { return iskra_model_input_rank(model, i, &rank); }) && rank >= 0 && rank <= 8 &&
         call([&] { return iskra_model_input_dims(model, i, dims, 8); });
    for (int64_t d = 0; ok && d < rank; ++d)
      if (dims[d] < 0) dims[d] = 1;
    iskra_tensor* t = nullptr;
    ok = ok && call([&] { return iskra_tensor_create(dtype, dims, static_cast<size_t>(rank), &t); });
    if (ok) {
      inputs.push_back(t);
      names.push_back(name);
    }
  }
  std::vector<iskra_tensor*> outputs(n_out, nullptr);
  if (ok) call([&] { return iskra_model_run(model, names.data(), inputs.data(), inputs.size(), outputs.data(), n_out); });
  for (iskra_tensor* t : outputs) iskra_tensor_free(t);
  for (iskra_tensor* t : inputs) iskra_tensor_free(t);
  iskra_model_free(model);
  return outcome;
}

std::string data_path(const std::string& relative) {
  return std::string(ISKRA_SOURCE_DIR) + "/.cache/" + relative;
}

class AllocationFailure : public testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(AllocationFailure, EveryFailedAllocationGivesAnErrorAndLeaksNothing) {
  const auto& [relative, threads] = GetParam();
  const std::string path = data_path(relative);
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing (made by scripts/setup)";

  // A first run initializes lazy statics (op tables, protobuf defaults, CPU detection).
  Outcome warm = load_and_run(path, threads);
  ASSERT_EQ(warm.status, ISKRA_OK) << warm.error;
  settle_last_error();
  const long live_before = g_live.load();
  g_seen = 0;
  ASSERT_EQ(load_and_run(path, threads).status, ISKRA_OK);
  const long allocations = g_seen.load();
  ASSERT_GT(allocations, 100) << "the allocator does not see Iskra's allocations";
  settle_last_error();
  ASSERT_EQ(g_live.load(), live_before) << "a successful load + run leaks";

  // Larger models: every allocation of the first 1500, then a sample spread over the rest.
  const long stride = allocations > 1500 ? (allocations - 1500) / 1500 + 1 : 1;
  long out_of_memory = 0;
  for (long n = 0; n < allocations; n += n < 1500 ? 1 : stride) {
    iskra_status status = ISKRA_OK;
    {  // the outcome's message is freed before live allocations are counted
      g_countdown = n;
      Outcome outcome;
      try {
        outcome = load_and_run(path, threads);
      } catch (const std::exception& e) {  // the C API lets no exception out
        g_in_api = false;
        g_countdown = -1;
        FAIL() << "failing allocation " << n << ": exception out of the C API: " << e.what();
      }
      g_countdown = -1;
      status = outcome.status;
      if (status != ISKRA_OK) {
        EXPECT_FALSE(outcome.error.empty()) << "allocation " << n << ": " << iskra_status_name(status)
                                            << " without a message";
        // Out of memory, or an error the failed allocation caused further in.
        EXPECT_TRUE(status == ISKRA_OUT_OF_MEMORY || outcome.error.find("memory") != std::string::npos)
            << "allocation " << n << ": " << iskra_status_name(status) << ": " << outcome.error;
        out_of_memory += status == ISKRA_OUT_OF_MEMORY;
      }
    }
    settle_last_error();
    const long leaked = g_live.load() - live_before;
    ASSERT_EQ(leaked, 0) << "failing allocation " << n << " of " << allocations << " leaks " << leaked
                         << " allocations (" << iskra_status_name(status) << ")";
  }
  EXPECT_GT(out_of_memory, 0) << "no injected failure was reported as out of memory";
}

std::string test_name(const testing::TestParamInfo<std::tuple<std::string, int>>& info) {
  std::string name = std::filesystem::path(std::get<0>(info.param)).parent_path().filename().string() + "_" +
                     std::filesystem::path(std::get<0>(info.param)).stem().string() + "_" +
                     std::to_string(std::get<1>(info.param)) + "threads";
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

// Bytes of address space this process has mapped now.
size_t mapped_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0;
  statm >> pages;
  return pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// In a child process limited to `limit` bytes of address space: 0 when
// load + run succeeded, 1 on an error with a message, 2 on one without; a
// crash shows as a signal.
int child_status(const std::string& path, int threads, size_t limit, std::string& signal_name) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const rlimit r{limit, limit};
    if (setrlimit(RLIMIT_AS, &r) != 0) _exit(4);
    const Outcome outcome = load_and_run(path, threads);
    _exit(outcome.status == ISKRA_OK ? 0 : outcome.error.empty() ? 2 : 1);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) {
    signal_name = strsignal(WTERMSIG(status));
    return -2;
  }
  return WEXITSTATUS(status);
}

class AddressSpaceLimit : public testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(AddressSpaceLimit, FailedMappingsGiveAnErrorNotACrash) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizers reserve terabytes of shadow memory: RLIMIT_AS cannot apply";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  GTEST_SKIP() << "sanitizers reserve terabytes of shadow memory: RLIMIT_AS cannot apply";
#endif
#endif
  const auto& [relative, threads] = GetParam();
  const std::string path = data_path(relative);
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing (made by scripts/setup)";
  ASSERT_EQ(load_and_run(path, threads).status, ISKRA_OK);  // warm: lazy statics exist before the fork
  const size_t base = mapped_bytes();
  std::string signal_name;
  // 1 MiB more than now is too little to map the model file; if it works, the
  // limit is not applied (qemu-user, for one, accepts setrlimit(RLIMIT_AS) and ignores it).
  const int tight = child_status(path, threads, base + (size_t{1} << 20), signal_name);
  if (tight == 0) GTEST_SKIP() << "RLIMIT_AS is not enforced here";
  ASSERT_EQ(tight, 1) << signal_name;
  int errors = 0, successes = 0;
  // From 1 MiB to 1 GiB more than the parent maps now, in steps of about 19 %.
  for (double extra = 1 << 20; extra <= double(1 << 30); extra *= 1.19) {
    const size_t limit = base + static_cast<size_t>(extra);
    const int status = child_status(path, threads, limit, signal_name);
    ASSERT_GE(status, 0) << "limit +" << static_cast<size_t>(extra) << " bytes: the child crashed ("
                         << signal_name << ")";
    ASSERT_NE(status, 2) << "limit +" << static_cast<size_t>(extra) << " bytes: an error without a message";
    ASSERT_NE(status, 4) << "setrlimit failed";
    errors += status == 1;
    successes += status == 0;
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(successes, 0) << "1 GiB more address space should be enough to load and run " << relative;
}

INSTANTIATE_TEST_SUITE_P(Models, AddressSpaceLimit,
                         testing::Combine(testing::Values("models/torchvision/mobilenet_v2_opset13.onnx",
                                                          "npm/node_modules/@mediapipe/pose/pose_landmark_full.tflite"),
                                          testing::Values(1, 2)),
                         test_name);


INSTANTIATE_TEST_SUITE_P(
    Models, AllocationFailure,
    testing::Combine(testing::Values("onnx_backend/pytorch-converted/test_Conv2d_depthwise_padded/model.onnx",
                                     "onnx_backend/node/test_layer_normalization_2d_axis0_expanded/model.onnx",
                                     "models/tflite_ops/small_cnn_int8.tflite",
                                     "npm/node_modules/@mediapipe/face_detection/face_detection_short_range.tflite"),
                     testing::Values(1, 2)),
    test_name);

}  // namespace
