// The per-op and per-node tables of `iskra bench --profile`, made from the
// session's node timings (Session::set_profiling) and planned shapes.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/session.h"

namespace iskra::cli {

struct NodeProfile {
  size_t index = 0;      // in Session::graph().nodes
  std::string name;      // from the model; may be empty
  std::string op;
  std::string kernel;    // "fast", "reference" or "subgraph" (control flow)
  std::string output;    // dtype and shape of the first output, "dynamic" if not planned
  int64_t total_ns = 0;  // over all profiled runs
  double ms_per_run = 0;
  double percent = 0;    // of the time spent in all nodes
  int64_t calls = 0;
  std::optional<double> flops;         // per call, see op_flops
  std::optional<double> gflop_per_s;
};

struct OpProfile {
  std::string op;
  double ms_per_run = 0;
  double percent = 0;
  int64_t nodes = 0;
  int64_t fast_nodes = 0;
  std::optional<double> gflop_per_s;  // over the nodes whose FLOPs are known
};

struct Profile {
  int runs = 0;                    // profiled runs
  double node_ms_per_run = 0;      // time in all nodes
  std::vector<NodeProfile> nodes;  // nodes that ran, slowest first
  std::vector<OpProfile> ops;      // slowest first
};

// `runs`: how many runs the timings cover (since profiling was turned on).
Profile collect_profile(const Session& session, int runs);
void print_profile(const Profile& profile, std::ostream& out, size_t top_nodes = 20);
nlohmann::ordered_json profile_nodes_json(const Profile& profile);
nlohmann::ordered_json profile_ops_json(const Profile& profile);

}  // namespace iskra::cli
