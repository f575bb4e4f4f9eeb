// SessionOptions::memory_limit_bytes: a model that asks for more tensor memory
// than the limit is refused before anything is allocated, naming what asked,
// at load (constants, planned arena) and at run (buffers of nodes whose shapes
// are known only then); under the limit it runs as without one.
#include <gtest/gtest.h>

#include <cstring>

#include "random_tensor.h"
#include "runtime/session.h"

namespace iskra {
namespace {

// x [1, 256] f32 → Tile(repeats) → y. `repeats` is a constant [1, tile]
// (the output is planned at load) or, with tile < 0, a graph input (the
// output's shape is known only at run time).
Model tile_model(int64_t tile) {
  auto g = std::make_shared<Graph>();
  g->name = "tiles";
  const int x = g->add_value("x", DType::kF32);
  g->value(x).shape = SymbolicShape{Dim{1, {}}, Dim{256, {}}};
  g->inputs.push_back(x);
  int repeats = kNoValue;
  if (tile >= 0) {
    repeats = g->add_constant("repeats", Tensor::from_vector<int64_t>({2}, {1, tile}).value());
  } else {
    repeats = g->add_value("repeats", DType::kI64);
    g->value(repeats).shape = SymbolicShape{Dim{2, {}}};
    g->inputs.push_back(repeats);
  }
  Node n;
  n.op = OpKind::Tile;
  n.name = "tile";
  n.inputs = {x, repeats};
  n.outputs = {g->add_value("y", DType::kF32)};
  g->value(n.outputs[0]).producer = 0;
  g->outputs.push_back(n.outputs[0]);
  g->nodes.push_back(std::move(n));
  return Model{g, {}};
}

Result<std::unique_ptr<Session>> create(Model model, size_t limit) {
  SessionOptions options;
  options.memory_limit_bytes = limit;
  return Session::create(std::move(model), options);
}

constexpr size_t kMiB = size_t{1} << 20;

TEST(MemoryBudget, PlannedArenaOverTheLimitIsRefusedAtLoad) {
  // [1, 256 * 4096] f32 = 4 MiB of output; the limit is 1 MiB.
  auto s = create(tile_model(4096), kMiB);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kOutOfMemory);
  const std::string& m = s.status().message();
  EXPECT_NE(m.find("memory limit of 1.0 MiB"), std::string::npos) << m;
  EXPECT_NE(m.find("node 'tile' (Tile)"), std::string::npos) << m;
  EXPECT_NE(m.find("f32[1,1048576]"), std::string::npos) << m;
  EXPECT_NE(m.find("4.0 MiB"), std::string::npos) << m;
}

TEST(MemoryBudget, UnderTheLimitRunsAsWithout) {
  auto limited = create(tile_model(64), kMiB);
  ASSERT_TRUE(limited.is_ok()) << limited.status().message();
  auto unlimited = create(tile_model(64), 0);
  ASSERT_TRUE(unlimited.is_ok());
  const std::vector<Tensor> in = {test_util::random_f32({1, 256}, 3)};
  std::vector<Tensor> a, b;
  ASSERT_TRUE((*limited)->run(in, a).is_ok());
  ASSERT_TRUE((*unlimited)->run(in, b).is_ok());
  ASSERT_EQ(a[0].shape(), (Shape{1, 256 * 64}));
  EXPECT_EQ(std::memcmp(a[0].raw_data(), b[0].raw_data(), a[0].byte_size()), 0);
}

TEST(MemoryBudget, RunTimeBufferOverTheLimitIsRefusedNamingTheNode) {
  auto s = create(tile_model(-1), kMiB);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  const Tensor x = test_util::random_f32({1, 256}, 4);
  auto inputs = [&](int64_t tile) {
    return std::vector<Tensor>{x, Tensor::from_vector<int64_t>({2}, {1, tile}).value()};
  };
  std::vector<Tensor> out;
  // 256 * 16 floats fit; then a hostile repeat count asks for 1 GiB.
  ASSERT_TRUE((*s)->run(inputs(16), out).is_ok());
  const Status st = (*s)->run(inputs(1 << 20), out);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), StatusCode::kOutOfMemory);
  EXPECT_NE(st.message().find("node 'tile' (Tile)"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("1.0 GiB"), std::string::npos) << st.message();
  // The refused run gave its charge back: the small run still fits, again and again.
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE((*s)->run(inputs(16), out).is_ok());
}

TEST(MemoryBudget, ConstantsOverTheLimitAreRefused) {
  auto g = std::make_shared<Graph>();
  const int w = g->add_constant("w", test_util::random_f32({1024, 512}, 5));  // 2 MiB
  g->outputs.push_back(w);
  auto s = create(Model{g, {}}, kMiB);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("the model's constants: 2.0 MiB would pass"), std::string::npos)
      << s.status().message();
}

}  // namespace
}  // namespace iskra
