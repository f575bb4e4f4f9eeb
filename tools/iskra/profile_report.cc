#include "profile_report.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "commands.h"
#include "op_flops.h"

namespace iskra::cli {

namespace {

// Planned shapes of `ids` (nullptr where absent or dynamic).
std::vector<const Shape*> planned_shapes(const std::vector<Tensor>& planned, const std::vector<int>& ids) {
  std::vector<const Shape*> shapes;
  for (int id : ids) {
    const bool known = id != kNoValue && planned[static_cast<size_t>(id)].dtype() != DType::kUndefined;
    shapes.push_back(known ? &planned[static_cast<size_t>(id)].shape() : nullptr);
  }
  return shapes;
}

const char* kernel_label(const Node& node, const NodeTiming& timing) {
  if (is_control_flow(node.op)) return "subgraph";
  return timing.fast_kernel ? "fast" : "reference";
}

std::optional<double> rate(double flops, int64_t ns) {
  if (ns <= 0) return std::nullopt;
  return flops / static_cast<double>(ns);  // FLOP per ns = GFLOP/s
}

NodeProfile node_profile(const Session& session, size_t index, const NodeTiming& timing, int runs) {
  const Node& node = session.graph().nodes[index];
  const std::vector<Tensor>& planned = session.planned_values();
  NodeProfile p;
  p.index = index;
  p.name = node.name;
  p.op = op_name(node.op);
  p.kernel = kernel_label(node, timing);
  p.total_ns = timing.total_ns;
  p.ms_per_run = static_cast<double>(timing.total_ns) / 1e6 / runs;
  p.calls = timing.runs;
  const std::vector<const Shape*> in = planned_shapes(planned, node.inputs);
  const std::vector<const Shape*> out = planned_shapes(planned, node.outputs);
  p.output = !out.empty() && out[0] ? planned[static_cast<size_t>(node.outputs[0])].describe() : "dynamic";
  p.flops = op_flops(node, in, out);
  if (p.flops) p.gflop_per_s = rate(*p.flops * static_cast<double>(p.calls), timing.total_ns);
  return p;
}

template <typename T>
void sort_slowest_first(std::vector<T>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const T& a, const T& b) { return a.ms_per_run > b.ms_per_run; });
}

std::vector<OpProfile> aggregate_ops(const std::vector<NodeProfile>& nodes) {
  struct Sum {
    OpProfile row;
    double flops = 0;  // over the nodes with known FLOPs,
    int64_t flops_ns = 0;  // and their time
  };
  std::map<std::string, Sum> by_op;
  for (const NodeProfile& n : nodes) {
    Sum& s = by_op[n.op];
    s.row.op = n.op;
    s.row.ms_per_run += n.ms_per_run;
    s.row.percent += n.percent;
    s.row.nodes += 1;
    s.row.fast_nodes += n.kernel == "fast";
    if (n.flops) {
      s.flops += *n.flops * static_cast<double>(n.calls);
      s.flops_ns += n.total_ns;
    }
  }
  std::vector<OpProfile> ops;
  for (auto& [op, s] : by_op) {
    s.row.gflop_per_s = rate(s.flops, s.flops_ns);  // none when no node has FLOPs
    ops.push_back(std::move(s.row));
  }
  sort_slowest_first(ops);
  return ops;
}

std::string gflops_text(const std::optional<double>& v) { return v ? format_fixed(*v, 2) : "-"; }

// `text` cut to its last `width` characters, "..." marking the cut (the end
// of a node name is the most specific part: "/layer4/layer4.1/conv2/Conv").
std::string clip(const std::string& text, size_t width) {
  return text.size() <= width ? text : "..." + text.substr(text.size() - (width - 3));
}

nlohmann::ordered_json optional_json(const std::optional<double>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

Profile collect_profile(const Session& session, int runs) {
  Profile profile;
  profile.runs = runs;
  const std::vector<NodeTiming>& timings = session.node_timings();
  int64_t total_ns = 0;
  for (size_t n = 0; n < timings.size(); ++n) {
    if (timings[n].runs == 0) continue;  // folded at plan time
    profile.nodes.push_back(node_profile(session, n, timings[n], runs));
    total_ns += timings[n].total_ns;
  }
  profile.node_ms_per_run = static_cast<double>(total_ns) / 1e6 / runs;
  for (NodeProfile& n : profile.nodes)
    n.percent = total_ns > 0 ? 100.0 * static_cast<double>(n.total_ns) / static_cast<double>(total_ns) : 0.0;
  sort_slowest_first(profile.nodes);
  profile.ops = aggregate_ops(profile.nodes);
  return profile;
}

void print_profile(const Profile& profile, std::ostream& out, size_t top_nodes) {
  char line[256];
  out << "\nprofile: " << profile.runs << " runs, " << format_fixed(profile.node_ms_per_run, 3)
      << " ms per run in nodes (% of that time)\n";
  std::snprintf(line, sizeof line, "  %-22s %10s %6s %6s %6s %9s\n", "op", "ms/run", "%", "nodes", "fast", "GFLOP/s");
  out << line;
  for (const OpProfile& op : profile.ops) {
    std::snprintf(line, sizeof line, "  %-22s %10.3f %6.1f %6lld %6lld %9s\n", clip(op.op, 22).c_str(), op.ms_per_run,
                  op.percent, static_cast<long long>(op.nodes), static_cast<long long>(op.fast_nodes),
                  gflops_text(op.gflop_per_s).c_str());
    out << line;
  }
  const size_t shown = std::min(top_nodes, profile.nodes.size());
  out << "\ntop " << shown << " of the " << profile.nodes.size() << " nodes that ran (not folded at plan time):\n";
  std::snprintf(line, sizeof line, "  %5s %-32s %-16s %10s %6s %6s %-9s %9s  %s\n", "#", "node", "op", "ms/run", "%",
                "calls", "kernel", "GFLOP/s", "output");
  out << line;
  for (size_t i = 0; i < shown; ++i) {
    const NodeProfile& n = profile.nodes[i];
    std::snprintf(line, sizeof line, "  %5zu %-32s %-16s %10.3f %6.1f %6lld %-9s %9s  %s\n", n.index,
                  clip(n.name, 32).c_str(), clip(n.op, 16).c_str(), n.ms_per_run, n.percent,
                  static_cast<long long>(n.calls), n.kernel.c_str(), gflops_text(n.gflop_per_s).c_str(),
                  n.output.c_str());
    out << line;
  }
}

nlohmann::ordered_json profile_nodes_json(const Profile& profile) {
  auto rows = nlohmann::ordered_json::array();
  for (const NodeProfile& n : profile.nodes) {
    rows.push_back({{"index", n.index},
                    {"name", n.name},
                    {"op", n.op},
                    {"kernel", n.kernel},
                    {"fast_kernel", n.kernel == "fast"},
                    {"output", n.output},
                    {"ms_per_run", n.ms_per_run},
                    {"percent", n.percent},
                    {"calls", n.calls},
                    {"flops", optional_json(n.flops)},
                    {"gflop_per_s", optional_json(n.gflop_per_s)}});
  }
  return rows;
}

nlohmann::ordered_json profile_ops_json(const Profile& profile) {
  auto rows = nlohmann::ordered_json::array();
  for (const OpProfile& op : profile.ops) {
    rows.push_back({{"op", op.op},
                    {"ms_per_run", op.ms_per_run},
                    {"percent", op.percent},
                    {"nodes", op.nodes},
                    {"fast_nodes", op.fast_nodes},
                    {"gflop_per_s", optional_json(op.gflop_per_s)}});
  }
  return rows;
}

}  // namespace iskra::cli
