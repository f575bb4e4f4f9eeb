// Small graph-editing helpers shared by the passes.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace iskra::passes {

// For every value, the nodes reading it (a node reading a value twice is
// listed twice). Graph outputs are not consumers; see is_graph_output.
std::vector<std::vector<int>> consumers_of(const Graph& graph);
bool is_graph_output(const Graph& graph, int value);

// Makes every node that reads `from` read `to` instead.
void replace_uses(Graph& graph, int from, int to);

// Removes the nodes marked in `dead`, recomputes value producers, and drops
// constants no node reads any more (their memory is freed).
void remove_nodes(Graph& graph, const std::vector<bool>& dead);

// The value of a constant input as float32, or nullptr.
const Tensor* constant_f32(const Graph& graph, int value);

// The float32 constant `value` as a tensor a pass may rewrite in place: read
// by `readers` nodes only (1 for a weight folded into its one Conv), not a
// graph output, and its storage owned by nothing else (no other tensor, no
// other session's graph, not a view of a mapped file). Else nullptr: the pass
// makes a new constant.
Tensor* exclusive_constant_f32(Graph& graph, int value, const std::vector<std::vector<int>>& consumers);

}  // namespace iskra::passes
