#include "op_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "runtime/session.h"

namespace iskra::testing {

Tensor random_tensor(const Shape& shape, uint32_t seed, float lo, float hi) {
  Tensor t = Tensor::allocate(DType::kF32, shape).value();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

OpTest::OpTest(OpKind op, size_t output_count) {
  node_.op = op;
  node_.name = "under_test";
  node_.source_op = op_name(op);
  for (size_t o = 0; o < output_count; ++o) node_.outputs.push_back(graph_.add_value("out" + std::to_string(o)));
}

OpTest& OpTest::input(const std::string& name, Tensor value) {
  const int id = graph_.add_value(name, value.dtype());
  graph_.inputs.push_back(id);
  node_.inputs.push_back(id);
  run_inputs_.push_back(std::move(value));
  return *this;
}

OpTest& OpTest::constant(const std::string& name, Tensor value) {
  node_.inputs.push_back(graph_.add_constant(name, std::move(value)));
  return *this;
}

OpTest& OpTest::absent_input() {
  node_.inputs.push_back(kNoValue);
  return *this;
}

OpTest& OpTest::attr(const std::string& key, AttrValue value) {
  node_.attrs[key] = std::move(value);
  return *this;
}

namespace {

struct RunResult {
  std::vector<Tensor> outputs;
  size_t fast_nodes = 0;
};

RunResult run_session(const Graph& graph, const Node& node, const std::vector<Tensor>& inputs, bool reference,
                      int threads) {
  auto g = std::make_shared<Graph>(graph);
  g->nodes.push_back(node);
  for (int id : node.outputs) {
    g->values[static_cast<size_t>(id)].producer = 0;
    g->outputs.push_back(id);
  }
  SessionOptions options;
  options.threads = threads;
  options.reference_kernels = reference;
  options.optimize = false;
  auto session = Session::create(Model{g, {}}, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  RunResult result;
  if (!session.is_ok()) return result;
  Status st = (*session)->run(inputs, result.outputs);
  EXPECT_TRUE(st.is_ok()) << st.message();
  result.fast_nodes = (*session)->fast_node_count();
  return result;
}

}  // namespace

float OpTest::expect_fast_matches_reference(float tolerance, int threads) {
  RunResult ref = run_session(graph_, node_, run_inputs_, /*reference=*/true, 1);
  RunResult fast = run_session(graph_, node_, run_inputs_, /*reference=*/false, threads);
  EXPECT_EQ(fast.fast_nodes, 1u) << op_name(node_.op) << ": the fast kernel declined this case";
  float max_diff = 0.0f;
  if (ref.outputs.size() != fast.outputs.size()) {
    ADD_FAILURE() << "output counts differ";
    return max_diff;
  }
  for (size_t o = 0; o < ref.outputs.size(); ++o) {
    const Tensor& r = ref.outputs[o];
    const Tensor& f = fast.outputs[o];
    EXPECT_EQ(r.shape(), f.shape()) << "output " << o;
    EXPECT_EQ(r.dtype(), f.dtype()) << "output " << o;
    if (r.shape() != f.shape() || r.dtype() != f.dtype()) continue;
    if (r.dtype() == DType::kI8 || r.dtype() == DType::kU8) {  // quantized: within `tolerance` steps
      size_t bad = 0;
      for (int64_t i = 0; i < r.element_count(); ++i) {
        const auto at = [&](const Tensor& t) {
          return t.dtype() == DType::kI8 ? float(t.data<int8_t>()[i]) : float(t.data<uint8_t>()[i]);
        };
        const float diff = std::fabs(at(r) - at(f));
        if (diff > tolerance && bad++ < 5) ADD_FAILURE() << "output " << o << " element " << i << ": fast " << at(f) << " ref " << at(r);
        max_diff = std::max(max_diff, diff);
      }
      EXPECT_EQ(bad, 0u) << "elements out of tolerance in output " << o;
      continue;
    }
    if (r.dtype() != DType::kF32) {
      ADD_FAILURE() << "output " << o << ": no comparison for dtype " << dtype_name(r.dtype());
      continue;
    }
    const auto rs = r.span<float>();
    const auto fs = f.span<float>();
    size_t bad = 0;
    for (size_t i = 0; i < rs.size(); ++i) {
      const float diff = std::fabs(rs[i] - fs[i]);
      if (!(diff <= tolerance * (1.0f + std::fabs(rs[i])))) {  // also catches NaN
        if (bad++ < 5) ADD_FAILURE() << "output " << o << " element " << i << ": fast " << fs[i] << " ref " << rs[i];
      }
      if (diff > max_diff || std::isnan(diff)) max_diff = diff;
    }
    EXPECT_EQ(bad, 0u) << "elements out of tolerance in output " << o;
  }
  return max_diff;
}

void OpTest::expect_reference_fallback() {
  RunResult fast = run_session(graph_, node_, run_inputs_, /*reference=*/false, 1);
  EXPECT_EQ(fast.fast_nodes, 0u) << op_name(node_.op) << ": the fast kernel should have declined";
}

}  // namespace iskra::testing
