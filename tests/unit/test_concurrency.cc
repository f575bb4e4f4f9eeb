// Sessions and threads: separate sessions of one model run in parallel and give
// bit-identical results; one session refuses a call made while another thread
// runs it (and the running call is unharmed).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "api/model_loader.h"
#include "random_tensor.h"
#include "runtime/session.h"

namespace iskra {
namespace {

using test_util::random_f32;

// x [1, 16, H, W] → Conv 3x3 → Relu → Conv 3x3: a few milliseconds a run.
Model two_convs() {
  auto g = std::make_shared<Graph>();
  const int x = g->add_value("x", DType::kF32);
  g->inputs.push_back(x);
  int last = x;
  for (int i = 0; i < 3; ++i) {
    Node n;
    n.op = i == 1 ? OpKind::Relu : OpKind::Conv;
    n.name = "n" + std::to_string(i);
    n.inputs = {last};
    if (n.op == OpKind::Conv) {
      n.inputs.push_back(g->add_constant("w" + std::to_string(i), random_f32({16, 16, 3, 3}, 10 + i)));
      n.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
    }
    n.outputs = {g->add_value("v" + std::to_string(i), DType::kF32)};
    last = n.outputs[0];
    g->value(last).producer = static_cast<int>(g->nodes.size());
    g->nodes.push_back(std::move(n));
  }
  g->outputs.push_back(last);
  return Model{g, {}};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.byte_size()) == 0;
}

std::unique_ptr<Session> new_session(int threads) {
  SessionOptions options;
  options.threads = threads;
  auto s = Session::create(two_convs(), options);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  return s.is_ok() ? std::move(*s) : nullptr;
}

const std::vector<Tensor>& inputs() {
  static const std::vector<Tensor> x = {random_f32({1, 16, 96, 96}, 1)};
  return x;
}

std::vector<Tensor> reference_outputs() {
  std::vector<Tensor> out;
  EXPECT_TRUE(new_session(1)->run(inputs(), out).is_ok());
  return out;
}

TEST(Concurrency, SeparateSessionsRunInParallelBitIdentically) {
  const std::vector<Tensor> expected = reference_outputs();
  for (int threads_per_session : {1, 2}) {
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < 3; ++i) sessions.push_back(new_session(threads_per_session));
    std::atomic<int> mismatches{0}, failures{0};
    std::vector<std::thread> workers;
    for (auto& session : sessions) {
      workers.emplace_back([&, s = session.get()] {
        std::vector<Tensor> out;
        for (int run = 0; run < 8; ++run) {
          if (!s->run(inputs(), out).is_ok()) ++failures;
          else if (!same_bits(out[0], expected[0])) ++mismatches;
        }
      });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(mismatches.load(), 0) << threads_per_session << " threads per session";
  }
}

// The same with a real model file: BlazeFace (MediaPipe .tflite, fp16 weights,
// NHWC kernels), four sessions of one loaded Model (two on 1 thread, two on 2)
// run on four threads at once, against one single-threaded run.
TEST(Concurrency, RealModelSessionsRunInParallelBitIdentically) {
  const std::string path =
      std::string(ISKRA_SOURCE_DIR) + "/.cache/npm/node_modules/@mediapipe/face_detection/face_detection_short_range.tflite";
  auto model = load_model_file(path);
  if (!model.is_ok()) GTEST_SKIP() << model.status().message() << " (scripts/setup installs it)";
  const std::vector<Tensor> image = {random_f32({1, 128, 128, 3}, 7)};
  std::vector<Tensor> expected;
  ASSERT_TRUE(Session::create(*model).value()->run(image, expected).is_ok());
  ASSERT_EQ(expected.size(), 2u);
  std::vector<std::unique_ptr<Session>> sessions;
  for (int threads : {1, 2, 1, 2}) {
    SessionOptions options;
    options.threads = threads;
    sessions.push_back(Session::create(*model, options).value());
  }
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> workers;
  for (auto& session : sessions) {
    workers.emplace_back([&, s = session.get()] {
      std::vector<Tensor> out;
      for (int run = 0; run < 6; ++run) {
        if (!s->run(image, out).is_ok()) {
          ++failures;
          continue;
        }
        for (size_t o = 0; o < expected.size(); ++o)
          if (!same_bits(out[o], expected[o])) ++mismatches;
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Concurrency, OneSessionRefusesASecondThreadsCall) {
  const std::vector<Tensor> expected = reference_outputs();
  std::unique_ptr<Session> session = new_session(1);
  std::atomic<int> refused{0}, mismatches{0}, other_errors{0};
  std::atomic<bool> stop{false};
  auto hammer = [&] {
    std::vector<Tensor> out;
    for (int run = 0; run < 400 && !stop; ++run) {
      Status st = session->run(inputs(), out);
      if (st.is_ok()) {
        if (!same_bits(out[0], expected[0])) ++mismatches;
      } else if (st.message().find("already running a call on another thread") != std::string::npos) {
        if (++refused >= 3) stop = true;  // seen enough
      } else {
        ++other_errors;
      }
    }
  };
  std::thread a(hammer), b(hammer);
  a.join();
  b.join();
  EXPECT_GE(refused.load(), 1) << "two threads calling one session never overlapped";
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0) << "a call that ran gave different bits";
  std::vector<Tensor> out;  // and the session is usable afterwards
  ASSERT_TRUE(session->run(inputs(), out).is_ok());
  EXPECT_TRUE(same_bits(out[0], expected[0]));
}

}  // namespace
}  // namespace iskra
