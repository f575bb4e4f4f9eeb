// iskra inspect MODEL [--json]
//
// Describes a model without running it: format, producer, versions, inputs
// and outputs, node and parameter counts, and a histogram of the IR ops used
// (subgraphs included).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/model_loader.h"
#include "commands.h"

namespace iskra::cli {

namespace {

struct InspectOptions {
  std::string model_path;
  bool json = false;
};

struct GraphCounts {
  int64_t nodes = 0;
  int64_t subgraph_nodes = 0;
  int64_t subgraphs = 0;
  int64_t constants = 0;
  int64_t parameters = 0;       // elements of all constants
  int64_t parameter_bytes = 0;
  std::map<std::string, int64_t> ops;
};

void count_graph(const Graph& graph, bool is_subgraph, GraphCounts& counts) {
  for (const Value& v : graph.values) {
    if (!v.constant) continue;
    ++counts.constants;
    counts.parameters += v.constant->element_count();
    counts.parameter_bytes += static_cast<int64_t>(v.constant->byte_size());
  }
  for (const Node& node : graph.nodes) {
    ++(is_subgraph ? counts.subgraph_nodes : counts.nodes);
    ++counts.ops[op_name(node.op)];
    for (const auto& [key, attr] : node.attrs) {
      if (const auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr); sub && *sub) {
        ++counts.subgraphs;
        count_graph(**sub, true, counts);
      }
    }
  }
}

// Ops by descending count, then by name.
std::vector<std::pair<std::string, int64_t>> sorted_ops(const GraphCounts& counts) {
  std::vector<std::pair<std::string, int64_t>> ops(counts.ops.begin(), counts.ops.end());
  std::stable_sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return ops;
}

nlohmann::ordered_json shape_json(const Value& v) {
  if (!v.shape) return nullptr;
  auto dims = nlohmann::ordered_json::array();
  for (const Dim& d : *v.shape) {
    if (d.is_known())
      dims.push_back(d.size);
    else if (!d.symbol.empty())
      dims.push_back(d.symbol);
    else
      dims.push_back(nullptr);
  }
  return dims;
}

std::string shape_text(const Value& v) { return v.shape ? symbolic_shape_to_string(*v.shape) : "unknown shape"; }

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buffer;
}

void print_json(const InspectOptions& options, const Model& model, const GraphCounts& counts) {
  const Graph& g = *model.graph;
  nlohmann::ordered_json j;
  j["path"] = options.model_path;
  j["format"] = model.info.format;
  j["producer"] = model.info.producer;
  j["format_version"] = model.info.format_version;
  j["opset"] = model.info.opset;
  auto io = [&](const std::vector<int>& ids) {
    auto list = nlohmann::ordered_json::array();
    for (int id : ids) {
      const Value& v = g.value(id);
      nlohmann::ordered_json e;
      e["name"] = v.name;
      e["dtype"] = dtype_name(v.dtype);
      e["shape"] = shape_json(v);
      list.push_back(std::move(e));
    }
    return list;
  };
  j["inputs"] = io(g.inputs);
  j["outputs"] = io(g.outputs);
  j["nodes"] = counts.nodes + counts.subgraph_nodes;
  j["main_graph_nodes"] = counts.nodes;
  j["subgraph_nodes"] = counts.subgraph_nodes;
  j["subgraphs"] = counts.subgraphs;
  j["parameters"] = {{"count", counts.parameters}, {"bytes", counts.parameter_bytes}, {"tensors", counts.constants}};
  auto ops = nlohmann::ordered_json::array();
  for (const auto& [op, count] : sorted_ops(counts)) ops.push_back({{"op", op}, {"count", count}});
  j["ops"] = std::move(ops);
  // Names in models are arbitrary bytes: replace invalid UTF-8 instead of throwing.
  std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
}

void print_text(const InspectOptions& options, const Model& model, const GraphCounts& counts) {
  const Graph& g = *model.graph;
  std::cout << "model:      " << options.model_path << "\n";
  std::cout << "format:     " << model.info.format;
  if (model.info.format_version) std::cout << " (format version " << model.info.format_version << ")";
  std::cout << "\n";
  if (model.info.opset) std::cout << "opset:      " << model.info.opset << "\n";
  std::cout << "producer:   " << (model.info.producer.empty() ? "(not given)" : model.info.producer) << "\n";
  auto io = [&](const char* title, const std::vector<int>& ids) {
    std::cout << title << "\n";
    size_t width = 0;
    for (int id : ids) width = std::max(width, g.value(id).name.size());
    for (int id : ids) {
      const Value& v = g.value(id);
      std::cout << "  " << v.name << std::string(width - v.name.size() + 2, ' ') << dtype_name(v.dtype) << " "
                << shape_text(v) << "\n";
    }
  };
  io("inputs:", g.inputs);
  io("outputs:", g.outputs);
  std::cout << "nodes:      " << counts.nodes + counts.subgraph_nodes;
  if (counts.subgraphs)
    std::cout << " (" << counts.subgraph_nodes << " in " << counts.subgraphs << " subgraphs)";
  std::cout << "\n";
  std::cout << "parameters: " << counts.parameters << " in " << counts.constants << " constants ("
            << human_bytes(counts.parameter_bytes) << ")\n";
  std::cout << "ops:\n";
  const auto ops = sorted_ops(counts);
  size_t width = 0;
  for (const auto& entry : ops) width = std::max(width, entry.first.size());
  for (const auto& [op, count] : ops)
    std::cout << "  " << op << std::string(width - op.size() + 2, ' ') << count << "\n";
}

int inspect_command(const InspectOptions& options) {
  auto model = load_model_file(options.model_path);
  if (!model.is_ok()) return report_error(model.status());
  if (!model->graph) return report_error(options.model_path + ": the model has no graph");
  GraphCounts counts;
  count_graph(*model->graph, false, counts);
  if (options.json)
    print_json(options, *model, counts);
  else
    print_text(options, *model, counts);
  return kExitOk;
}

}  // namespace

void add_inspect_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Describe a model: inputs, outputs, ops, parameters.");
  cmd->add_option("MODEL", options->model_path, "Model file (.onnx or .tflite; the format is read from the content)")->required();
  cmd->add_flag("--json", options->json, "Print JSON instead of text");
  cmd->footer("Parameters are the elements of all constant tensors, subgraphs included.");
  cmd->callback([options, &action] { action = [options] { return inspect_command(*options); }; });
}

}  // namespace iskra::cli
