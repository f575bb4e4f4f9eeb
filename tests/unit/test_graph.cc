#include "ir/graph.h"

#include <gtest/gtest.h>

namespace iskra {
namespace {

// x -> Relu -> y -> Neg -> z
Graph make_chain() {
  Graph g;
  g.name = "chain";
  int x = g.add_value("x", DType::kF32);
  int y = g.add_value("y");
  int z = g.add_value("z");
  g.inputs = {x};
  g.outputs = {z};
  g.nodes.push_back(Node{OpKind::Neg, "neg", "", {y}, {z}, {}, 0});
  g.nodes.push_back(Node{OpKind::Relu, "relu", "", {x}, {y}, {}, 0});
  return g;
}

TEST(Graph, VerifierRejectsUseBeforeDefinition) {
  Graph g = make_chain();
  Status s = verify_graph(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("'neg'"), std::string::npos) << s.message();
}

TEST(Graph, TopologicalSortFixesOrder) {
  Graph g = make_chain();
  ASSERT_TRUE(topological_sort(g).is_ok());
  EXPECT_EQ(g.nodes[0].name, "relu");
  EXPECT_EQ(g.nodes[1].name, "neg");
  EXPECT_TRUE(verify_graph(g).is_ok());
}

TEST(Graph, TopologicalSortNamesACycle) {
  Graph g;
  int a = g.add_value("a");
  int b = g.add_value("b");
  g.outputs = {b};
  g.nodes.push_back(Node{OpKind::Relu, "r1", "", {b}, {a}, {}, 0});
  g.nodes.push_back(Node{OpKind::Relu, "r2", "", {a}, {b}, {}, 0});
  Status s = topological_sort(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
}

TEST(Graph, VerifierRejectsDoubleDefinition) {
  Graph g;
  int x = g.add_value("x", DType::kF32);
  int y = g.add_value("y");
  g.inputs = {x};
  g.outputs = {y};
  g.nodes.push_back(Node{OpKind::Relu, "r1", "", {x}, {y}, {}, 0});
  g.nodes.push_back(Node{OpKind::Relu, "r2", "", {x}, {y}, {}, 0});
  Status s = verify_graph(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("already defined"), std::string::npos) << s.message();
}

TEST(Graph, VerifierRejectsOutOfRangeIds) {
  Graph g = make_chain();
  ASSERT_TRUE(topological_sort(g).is_ok());
  g.nodes[1].inputs[0] = 42;
  EXPECT_EQ(verify_graph(g).code(), StatusCode::kInvalidModel);
}

}  // namespace
}  // namespace iskra
