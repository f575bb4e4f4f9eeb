// A steady-state run allocates nothing: after the first run (which plans,
// packs weights and grows scratch buffers), Session::run with the same input
// shapes and the same output vector makes no heap allocation, on one thread
// and on two. Counted by replacing the global operator new in this binary.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>

#include "random_tensor.h"
#include "runtime/session.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted_alloc(std::size_t size, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (size + align - 1) / align * align)
                                              : std::malloc(size ? size : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t size) { return counted_alloc(size, 0); }
void* operator new[](std::size_t size) { return counted_alloc(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) { return counted_alloc(size, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return counted_alloc(size, static_cast<std::size_t>(a)); }
// The nothrow forms too (std::stable_sort's temporary buffer and Iskra's tensor buffers use
// them), so that every allocation is counted and paired with this file's delete.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size, 0);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size, static_cast<std::size_t>(a));
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t& tag) noexcept {
  return operator new(size, a, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace iskra {
namespace {

using test_util::random_f32;

// x → Conv 3x3 + Relu → Conv 1x1 + x (residual) → MatMul with constant weights.
std::shared_ptr<Graph> residual_block() {
  auto g = std::make_shared<Graph>();
  const int x = g->add_value("x", DType::kF32);
  g->inputs.push_back(x);
  auto add_node = [&](OpKind op, std::vector<int> in, const std::string& out) {
    Node n;
    n.op = op;
    n.name = out;
    n.source_op = op_name(op);
    n.inputs = std::move(in);
    n.outputs = {g->add_value(out, DType::kF32)};
    g->value(n.outputs[0]).producer = static_cast<int>(g->nodes.size());
    g->nodes.push_back(std::move(n));
    return g->nodes.back().outputs[0];
  };
  const int w1 = g->add_constant("w1", random_f32({8, 8, 3, 3}, 1));
  const int b1 = g->add_constant("b1", random_f32({8}, 2));
  const int c1 = add_node(OpKind::Conv, {x, w1, b1}, "c1");
  g->nodes.back().attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  const int r1 = add_node(OpKind::Relu, {c1}, "r1");
  const int w2 = g->add_constant("w2", random_f32({8, 8, 1, 1}, 3));
  const int c2 = add_node(OpKind::Conv, {r1, w2}, "c2");
  const int sum = add_node(OpKind::Add, {c2, x}, "sum");
  const int w3 = g->add_constant("w3", random_f32({12, 5}, 4));
  g->outputs.push_back(add_node(OpKind::MatMul, {sum, w3}, "y"));
  return g;
}

TEST(SteadyState, RunAllocatesNothing) {
  for (int threads : {1, 2}) {
    SessionOptions options;
    options.threads = threads;
    auto session = Session::create(Model{residual_block(), {}}, options);
    ASSERT_TRUE(session.is_ok()) << session.status().message();
    const std::vector<Tensor> inputs = {random_f32({1, 8, 10, 12}, 5)};
    std::vector<Tensor> outputs;
    for (int warm = 0; warm < 2; ++warm) ASSERT_TRUE((*session)->run(inputs, outputs).is_ok());
    ASSERT_EQ((*session)->fast_node_count(), (*session)->graph().nodes.size()) << "every node must run a fast kernel";
    g_allocations = 0;
    g_counting = true;
    Status st = (*session)->run(inputs, outputs);
    g_counting = false;
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(g_allocations.load(), 0) << "heap allocations in a steady-state run with " << threads << " threads";
  }
}

// The counter itself works (a test that cannot fail would prove nothing).
TEST(SteadyState, CounterSeesAllocations) {
  g_allocations = 0;
  g_counting = true;
  auto p = std::make_unique<std::vector<int>>(100);
  g_counting = false;
  EXPECT_GE(g_allocations.load(), 2);
}

}  // namespace
}  // namespace iskra
