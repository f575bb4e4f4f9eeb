#include "import/onnx/onnx_importer.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <unordered_map>

#include <google/protobuf/arena.h>
#include <onnx/onnx_pb.h>

#include "base/mapped_file.h"
#include "ir/limits.h"
#include "import/onnx/onnx_op_mapping.h"
#include "import/onnx/onnx_tensor.h"
#include "import/onnx/onnx_wire.h"

namespace iskra {

namespace {

constexpr int kMaxSubgraphDepth = 16;

struct ImportContext {
  std::string base_dir;  // for external data
  // Raw data of the main graph's initializers cut out before parsing (onnx_wire.h); empty if not.
  std::vector<std::optional<std::span<const uint8_t>>> detached_raw_data;
  std::unordered_map<std::string, int64_t> opsets;  // domain → version ("" = default)
};

// Builds one IR Graph from a GraphProto. Names resolve in this graph first,
// then in enclosing graphs; an outer name becomes a capture (see Graph::captures).
class GraphBuilder {
 public:
  GraphBuilder(const ImportContext& ctx, GraphBuilder* parent, int depth)
      : ctx_(ctx), parent_(parent), depth_(depth) {}

  Status build(const onnx::GraphProto& proto);
  Graph& graph() { return graph_; }
  std::shared_ptr<Graph> take_graph() { return std::make_shared<Graph>(std::move(graph_)); }
  const std::vector<std::string>& capture_names() const { return capture_names_; }

 private:
  Result<int> resolve(const std::string& name, const std::string& user);
  Status declare_input(const onnx::ValueInfoProto& info);
  Status add_node(const onnx::NodeProto& proto, const std::vector<int>& output_ids);
  Status convert_attribute(const onnx::AttributeProto& attr, Node& node, std::vector<std::string>& captures,
                           std::vector<std::pair<std::string, GraphBuilder*>>& subgraphs,
                           std::vector<std::unique_ptr<GraphBuilder>>& owned);
  Status define(const std::string& name, int id, const std::string& what);

  const ImportContext& ctx_;
  GraphBuilder* parent_;
  int depth_;
  Graph graph_;
  std::unordered_map<std::string, int> names_;
  std::vector<std::string> capture_names_;
};

Status GraphBuilder::define(const std::string& name, int id, const std::string& what) {
  ISKRA_RETURN_IF_ERROR(check_name(name, what));
  if (!names_.emplace(name, id).second)
    return invalid_model(what, ": value name '", name, "' is defined twice");
  return Status::ok();
}

Result<int> GraphBuilder::resolve(const std::string& name, const std::string& user) {
  auto it = names_.find(name);
  if (it != names_.end()) return it->second;
  if (parent_) {
    auto outer = parent_->resolve(name, user);
    if (outer) {
      // A value of an enclosing graph: bind it through a capture.
      int id = graph_.add_value(name, parent_->graph_.value(outer.value()).dtype);
      names_.emplace(name, id);
      graph_.captures.push_back(id);
      capture_names_.push_back(name);
      return id;
    }
  }
  return invalid_model(user, "input '", name, "' is not produced by any node, input or initializer");
}

Result<SymbolicShape> shape_from_onnx(const onnx::TensorShapeProto& proto, const std::string& what) {
  if (static_cast<size_t>(proto.dim_size()) > kMaxTensorRank)
    return invalid_model(what, ": rank ", proto.dim_size(), " is over the limit of ", kMaxTensorRank);
  SymbolicShape shape;
  for (const auto& d : proto.dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0) return invalid_model(what, ": negative dimension ", d.dim_value());
      shape.push_back(Dim{d.dim_value(), {}});
    } else {
      shape.push_back(Dim{-1, d.dim_param()});
    }
  }
  return shape;
}

// Reads dtype and declared shape of a value from its ValueInfoProto.
Status apply_value_info(const onnx::ValueInfoProto& info, Value& value, const std::string& what) {
  if (!info.has_type()) return Status::ok();
  const auto& type = info.type();
  // An empty TypeProto (exporters write them for subgraph outputs) means unknown.
  if (type.value_case() == onnx::TypeProto::VALUE_NOT_SET) return Status::ok();
  if (!type.has_tensor_type()) {
    const char* kind = type.has_sequence_type() ? "sequence" : type.has_map_type() ? "map"
                       : type.has_optional_type() ? "optional" : "non-tensor";
    return unsupported(what, ": ", kind, " values are not supported");
  }
  const auto& tt = type.tensor_type();
  if (tt.elem_type() != 0) {
    ISKRA_ASSIGN_OR_RETURN(value.dtype, dtype_from_onnx(tt.elem_type(), what));
  }
  if (tt.has_shape()) {
    ISKRA_ASSIGN_OR_RETURN(value.shape, shape_from_onnx(tt.shape(), what));
  }
  return Status::ok();
}

Status GraphBuilder::declare_input(const onnx::ValueInfoProto& info) {
  const std::string what = "graph '" + graph_.name + "' input '" + info.name() + "'";
  if (names_.count(info.name())) return Status::ok();  // also an initializer: a constant
  int id = graph_.add_value(info.name());
  ISKRA_RETURN_IF_ERROR(apply_value_info(info, graph_.value(id), what));
  ISKRA_RETURN_IF_ERROR(define(info.name(), id, what));
  graph_.inputs.push_back(id);
  return Status::ok();
}

// Builds the value of a Constant node from whichever attribute holds it.
Result<Tensor> constant_value(const onnx::NodeProto& proto, const std::string& base_dir, const std::string& label) {
  if (proto.attribute_size() != 1) return invalid_model(label, "Constant needs exactly one value attribute");
  const auto& a = proto.attribute(0);
  const std::string& key = a.name();
  if (key == "value") return tensor_from_onnx(a.t(), base_dir, label + "value");
  if (key == "value_float") return Tensor::from_vector<float>({}, {a.f()});
  if (key == "value_int") return Tensor::from_vector<int64_t>({}, {a.i()});
  if (key == "value_floats")
    return Tensor::from_vector<float>({a.floats_size()}, std::vector<float>(a.floats().begin(), a.floats().end()));
  if (key == "value_ints")
    return Tensor::from_vector<int64_t>({a.ints_size()}, std::vector<int64_t>(a.ints().begin(), a.ints().end()));
  return unsupported(label, "Constant attribute '", key, "' is not supported");
}

Status GraphBuilder::convert_attribute(const onnx::AttributeProto& a, Node& node,
                                       std::vector<std::string>& captures,
                                       std::vector<std::pair<std::string, GraphBuilder*>>& subgraphs,
                                       std::vector<std::unique_ptr<GraphBuilder>>& owned) {
  const std::string& key = a.name();
  if (!a.ref_attr_name().empty())
    return unsupported(node.label(), "attribute '", key, "' refers to a function attribute");
  switch (a.type()) {
    case onnx::AttributeProto::FLOAT: node.attrs[key] = a.f(); break;
    case onnx::AttributeProto::INT: node.attrs[key] = static_cast<int64_t>(a.i()); break;
    case onnx::AttributeProto::STRING: node.attrs[key] = a.s(); break;
    case onnx::AttributeProto::FLOATS: node.attrs[key] = std::vector<float>(a.floats().begin(), a.floats().end()); break;
    case onnx::AttributeProto::INTS: node.attrs[key] = std::vector<int64_t>(a.ints().begin(), a.ints().end()); break;
    case onnx::AttributeProto::STRINGS:
      node.attrs[key] = std::vector<std::string>(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto::TENSOR: {
      ISKRA_ASSIGN_OR_RETURN(Tensor t, tensor_from_onnx(a.t(), ctx_.base_dir, node.label() + "attribute '" + key + "'"));
      node.attrs[key] = std::move(t);
      break;
    }
    case onnx::AttributeProto::GRAPH: {
      if (depth_ + 1 > kMaxSubgraphDepth)
        return invalid_model(node.label(), "subgraphs nested deeper than ", kMaxSubgraphDepth);
      auto child = std::make_unique<GraphBuilder>(ctx_, this, depth_ + 1);
      ISKRA_RETURN_IF_ERROR(child->build(a.g()).with_context(node.label() + "in subgraph '" + key + "': "));
      for (const std::string& name : child->capture_names())
        if (std::find(captures.begin(), captures.end(), name) == captures.end()) captures.push_back(name);
      subgraphs.emplace_back(key, child.get());
      owned.push_back(std::move(child));
      break;
    }
    case onnx::AttributeProto::UNDEFINED:
      // Some exporters write attributes without a type; infer from the set field.
      if (a.has_i()) node.attrs[key] = static_cast<int64_t>(a.i());
      else if (a.has_f()) node.attrs[key] = a.f();
      else if (a.has_s()) node.attrs[key] = a.s();
      else return invalid_model(node.label(), "attribute '", key, "' has no type");
      break;
    default:
      return unsupported(node.label(), "attribute '", key, "' of type ",
                         onnx::AttributeProto_AttributeType_Name(a.type()), " is not supported");
  }
  return Status::ok();
}

Status GraphBuilder::add_node(const onnx::NodeProto& proto, const std::vector<int>& output_ids) {
  Node node;
  ISKRA_RETURN_IF_ERROR(check_name(proto.name(), "node of type '" + proto.op_type().substr(0, 40) + "'"));
  node.name = proto.name();
  const std::string domain = proto.domain() == "ai.onnx" ? "" : proto.domain();
  auto opset_it = ctx_.opsets.find(domain);
  const int64_t opset = opset_it == ctx_.opsets.end() ? 0 : opset_it->second;
  node.source_op = (domain.empty() ? "" : domain + ":") + proto.op_type() + "-" + std::to_string(opset);
  const std::string label = node.label();
  if (opset_it == ctx_.opsets.end())
    return invalid_model(label, "domain '", proto.domain(), "' is not declared in the model's opset imports");

  if (domain.empty() && proto.op_type() == "Constant") {
    if (proto.output_size() != 1) return invalid_model(label, "Constant must have one output");
    ISKRA_ASSIGN_OR_RETURN(Tensor t, constant_value(proto, ctx_.base_dir, label));
    Value& v = graph_.value(output_ids[0]);
    v.dtype = t.dtype();
    v.shape = SymbolicShape{};
    for (int64_t d : t.shape()) v.shape->push_back(Dim{d, {}});
    v.constant = std::move(t);
    return Status::ok();
  }

  for (const std::string& name : proto.input()) {
    if (name.empty()) {
      node.inputs.push_back(kNoValue);
      continue;
    }
    ISKRA_ASSIGN_OR_RETURN(int id, resolve(name, label));
    node.inputs.push_back(id);
  }
  std::vector<std::string> captures;
  std::vector<std::pair<std::string, GraphBuilder*>> subgraphs;
  std::vector<std::unique_ptr<GraphBuilder>> owned;
  for (const auto& a : proto.attribute())
    ISKRA_RETURN_IF_ERROR(convert_attribute(a, node, captures, subgraphs, owned));
  // Captured outer values become trailing inputs; each body maps them to its own values.
  for (const std::string& name : captures) {
    ISKRA_ASSIGN_OR_RETURN(int id, resolve(name, label));
    node.inputs.push_back(id);
  }
  node.capture_count = captures.size();
  for (auto& [key, builder] : subgraphs) {
    std::vector<int> bound(captures.size(), kNoValue);
    const auto& names = builder->capture_names();
    for (size_t k = 0; k < names.size(); ++k) {
      size_t pos = static_cast<size_t>(std::find(captures.begin(), captures.end(), names[k]) - captures.begin());
      bound[pos] = builder->graph().captures[k];
    }
    builder->graph().captures = std::move(bound);
    node.attrs[key] = builder->take_graph();
  }

  node.outputs = output_ids;
  ISKRA_RETURN_IF_ERROR(map_onnx_op(OnnxOpId{domain, proto.op_type(), opset}, node, graph_));
  graph_.nodes.push_back(std::move(node));
  return Status::ok();
}

Status GraphBuilder::build(const onnx::GraphProto& proto) {
  graph_.name = proto.name();
  const bool detached = depth_ == 0 && ctx_.detached_raw_data.size() == static_cast<size_t>(proto.initializer_size());
  for (int i = 0; i < proto.initializer_size(); ++i) {
    const onnx::TensorProto& init = proto.initializer(i);
    const std::string what = "initializer '" + init.name() + "'";
    auto raw = detached ? ctx_.detached_raw_data[static_cast<size_t>(i)] : std::nullopt;
    ISKRA_ASSIGN_OR_RETURN(Tensor t, tensor_from_onnx(init, ctx_.base_dir, what, raw));
    int id = graph_.add_constant(init.name(), std::move(t));
    ISKRA_RETURN_IF_ERROR(define(init.name(), id, what));
  }
  if (proto.sparse_initializer_size() > 0) return unsupported("sparse initializers are not supported");
  for (const auto& input : proto.input()) ISKRA_RETURN_IF_ERROR(declare_input(input));
  // Declare every node output first: nodes may come in any order (the sort
  // below orders them), and subgraphs may read values defined later.
  std::vector<std::vector<int>> output_ids(static_cast<size_t>(proto.node_size()));
  for (int n = 0; n < proto.node_size(); ++n) {
    for (const std::string& name : proto.node(n).output()) {
      if (name.empty()) {
        output_ids[static_cast<size_t>(n)].push_back(kNoValue);
        continue;
      }
      int id = graph_.add_value(name);
      ISKRA_RETURN_IF_ERROR(define(name, id, "node '" + proto.node(n).name() + "' (" + proto.node(n).op_type() + ")"));
      output_ids[static_cast<size_t>(n)].push_back(id);
    }
  }
  for (int n = 0; n < proto.node_size(); ++n)
    ISKRA_RETURN_IF_ERROR(add_node(proto.node(n), output_ids[static_cast<size_t>(n)]));
  for (const auto& output : proto.output()) {
    const std::string what = "graph '" + graph_.name + "' output '" + output.name() + "'";
    ISKRA_ASSIGN_OR_RETURN(int id, resolve(output.name(), what + ": "));
    Value& v = graph_.value(id);
    Value declared;
    ISKRA_RETURN_IF_ERROR(apply_value_info(output, declared, what));
    if (v.dtype == DType::kUndefined) v.dtype = declared.dtype;
    if (!v.shape) v.shape = declared.shape;
    graph_.outputs.push_back(id);
  }
  // Declared types of intermediate values help tools (inspect) and checks.
  for (const auto& info : proto.value_info()) {
    auto it = names_.find(info.name());
    if (it == names_.end()) continue;
    Value& v = graph_.value(it->second);
    if (v.constant) continue;
    Value declared;
    if (apply_value_info(info, declared, "value_info").is_ok()) {
      if (v.dtype == DType::kUndefined) v.dtype = declared.dtype;
      if (!v.shape) v.shape = declared.shape;
    }
  }
  return topological_sort(graph_);
}

Result<Model> import_model(const onnx::ModelProto& proto, const std::string& base_dir,
                           std::vector<std::optional<std::span<const uint8_t>>> detached_raw_data) {
  ImportContext ctx;
  ctx.base_dir = base_dir;
  ctx.detached_raw_data = std::move(detached_raw_data);
  for (const auto& opset : proto.opset_import()) {
    const std::string domain = opset.domain() == "ai.onnx" ? "" : opset.domain();
    ctx.opsets[domain] = opset.version();
  }
  if (proto.functions_size() > 0) return unsupported("model-local functions are not supported");
  if (!proto.has_graph()) return invalid_model("the model has no graph");
  GraphBuilder builder(ctx, nullptr, 0);
  ISKRA_RETURN_IF_ERROR(builder.build(proto.graph()));
  Model model;
  model.graph = builder.take_graph();
  model.info.format = "onnx";
  model.info.producer = proto.producer_name() + (proto.producer_version().empty() ? "" : " " + proto.producer_version());
  model.info.format_version = proto.ir_version();
  model.info.opset = ctx.opsets.count("") ? ctx.opsets[""] : 0;
  return model;  // Session::create verifies the graph, whoever built it
}

}  // namespace

Result<Model> import_onnx_buffer(const void* data, size_t size, const std::string& base_dir) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()))
    return unsupported("ONNX files over 2 GiB must keep weights in external data files");
  // On an arena: protobuf's parser is not exception-safe (out of memory in the
  // middle of a repeated field leaks the element), an arena owns everything.
  google::protobuf::Arena arena;
  auto* proto = google::protobuf::Arena::CreateMessage<onnx::ModelProto>(&arena);
  // Parse the model without its weights' bytes when the wire format allows
  // (onnx_wire.h); the weights are then copied once, from `data`.
  std::optional<SlimOnnxModel> slim = slim_onnx_model(data, size);
  const bool parsed = slim ? proto->ParseFromString(slim->bytes) : proto->ParseFromArray(data, static_cast<int>(size));
  if (!parsed)
    return invalid_model("not a valid ONNX model (protobuf parse failed; the file may be truncated or corrupt)");
  return import_model(*proto, base_dir, slim ? std::move(slim->initializer_raw_data) : decltype(slim->initializer_raw_data){});
}

Result<Model> import_onnx_file(const std::string& path) {
  ISKRA_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
  return import_onnx_file(*file);
}

Result<Model> import_onnx_file(const MappedFile& file) {
  std::string dir = std::filesystem::path(file.path()).parent_path().string();
  auto model = import_onnx_buffer(file.data(), file.size(), dir.empty() ? "." : dir);
  if (!model) return model.status().with_context(file.path() + ": ");
  model->info.source_path = file.path();
  return model;
}

}  // namespace iskra
