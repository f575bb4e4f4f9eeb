#include "import/tflite/tflite_importer.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <flatbuffers/flatbuffers.h>

#include "base/mapped_file.h"
#include "base/str_cat.h"
#include "import/tflite/tflite_builder.h"
#include "ir/limits.h"

namespace iskra {

namespace tflite {

Result<DType> dtype_from_tflite(schema::TensorType type, const std::string& what) {
  switch (type) {
    case schema::TensorType::FLOAT32: return DType::kF32;
    case schema::TensorType::FLOAT16: return DType::kF16;
    case schema::TensorType::FLOAT64: return DType::kF64;
    case schema::TensorType::INT32: return DType::kI32;
    case schema::TensorType::UINT8: return DType::kU8;
    case schema::TensorType::INT64: return DType::kI64;
    case schema::TensorType::BOOL: return DType::kBool;
    case schema::TensorType::INT16: return DType::kI16;
    case schema::TensorType::INT8: return DType::kI8;
    case schema::TensorType::UINT64: return DType::kU64;
    case schema::TensorType::UINT32: return DType::kU32;
    case schema::TensorType::UINT16: return DType::kU16;
    default: break;
  }
  const char* name = schema::EnumNameTensorType(type);
  return unsupported(what, ": element type ", *name ? name : std::to_string(static_cast<int>(type)).c_str(),
                     " is not supported");
}

std::optional<Shape> GraphEmitter::static_shape(int id) const {
  const Value& v = graph_.value(id);
  if (v.constant) return v.constant->shape();
  if (!v.shape) return std::nullopt;
  Shape shape;
  for (const Dim& d : *v.shape) {
    if (!d.is_known()) return std::nullopt;
    shape.push_back(d.size);
  }
  return shape;
}

Node& GraphEmitter::emit(OpKind op, const OpToConvert& from, std::vector<int> inputs, std::vector<int> outputs) {
  Node node;
  node.op = op;
  node.name = from.name;
  node.source_op = from.source_op;
  node.inputs = std::move(inputs);
  node.outputs = std::move(outputs);
  graph_.nodes.push_back(std::move(node));
  return graph_.nodes.back();
}

int GraphEmitter::new_value(const std::string& name, DType dtype, std::optional<Shape> shape) {
  const int id = graph_.add_value(name, dtype);
  if (shape) {
    SymbolicShape s;
    for (int64_t d : *shape) s.push_back(Dim{d, {}});
    graph_.value(id).shape = std::move(s);
  }
  return id;
}

int GraphEmitter::constant_i64(const std::string& name, const std::vector<int64_t>& values) {
  return add_constant(name, Tensor::from_vector<int64_t>(Shape{static_cast<int64_t>(values.size())}, values).value());
}

int GraphEmitter::constant_f32(const std::string& name, float value) {
  return add_constant(name, Tensor::from_vector<float>(Shape{}, {value}).value());
}

}  // namespace tflite

namespace {

using tflite::schema::BuiltinOperator;
namespace schema = tflite::schema;

// Files over 2 GiB keep their buffers past the flatbuffer, which itself stays under it.
constexpr size_t kMaxFlatbufferBytes = static_cast<size_t>(std::numeric_limits<int32_t>::max()) - 1;  // the Verifier asserts size < 2^31 - 1

std::string_view view(const flatbuffers::String* s) {
  return s ? std::string_view(s->c_str(), s->size()) : std::string_view();
}

// A tensor for messages: its index and (the start of) its name.
std::string tensor_label(const schema::Tensor* t, size_t index) {
  const std::string_view name = t ? view(t->name()) : std::string_view();
  return str_cat("tensor #", index, " '", name.substr(0, 40), name.size() > 40 ? "...'" : "'");
}

class TfliteImporter {
 public:
  TfliteImporter(const uint8_t* data, size_t size, std::shared_ptr<void> owner)
      : data_(data), size_(size), owner_(std::move(owner)) {}

  Result<Model> import() {
    flatbuffers::Verifier verifier(data_, std::min(size_, kMaxFlatbufferBytes));
    if (!schema::VerifyModelBuffer(verifier))
      return invalid_model("not a valid TFLite model (the FlatBuffers verifier rejected it; the file may be "
                           "truncated or corrupt)");
    model_ = schema::GetModel(data_);
    if (!model_->subgraphs() || model_->subgraphs()->size() == 0) return invalid_model("the model has no subgraph");
    ISKRA_RETURN_IF_ERROR(import_subgraph(*model_->subgraphs()->Get(0)));
    Model model;
    model.graph = std::make_shared<Graph>(std::move(graph_));
    model.info.format = "tflite";
    model.info.format_version = model_->version();
    if (model_->description()) model.info.producer = model_->description()->str();
    return model;
  }

 private:
  // The bytes of buffer `index`: in the flatbuffer, or at an offset past it; empty if none.
  Result<std::span<const uint8_t>> buffer_bytes(uint32_t index, const std::string& what) const {
    const auto* buffers = model_->buffers();
    if (!buffers || index >= buffers->size())
      return invalid_model(what, ": buffer index ", index, " is out of range (the model has ",
                           buffers ? buffers->size() : 0, " buffers)");
    const schema::Buffer* buffer = buffers->Get(index);
    if (buffer->data() && buffer->data()->size() > 0) return std::span<const uint8_t>(buffer->data()->data(), buffer->data()->size());
    // offset 0 or 1 means "no external data" (1 is the converter's placeholder).
    if (buffer->offset() > 1) {
      const uint64_t offset = buffer->offset(), bytes = buffer->size();
      if (offset > size_ || bytes > size_ - offset)
        return invalid_model(what, ": buffer ", index, " at offset ", offset, " with ", bytes,
                             " bytes lies past the end of the file (", size_, " bytes)");
      return std::span<const uint8_t>(data_ + offset, bytes);
    }
    return std::span<const uint8_t>();
  }

  Status import_tensor(const schema::Tensor* t, size_t index) {
    const std::string what = tensor_label(t, index);
    ISKRA_RETURN_IF_ERROR(check_name(view(t->name()), what));
    std::string name = t->name() && t->name()->size() ? t->name()->str() : str_cat("tensor_", index);
    ISKRA_ASSIGN_OR_RETURN(DType dtype, tflite::dtype_from_tflite(t->type(), what));
    Shape shape;
    SymbolicShape declared;
    const auto* dims = t->shape();
    const auto* signature = t->shape_signature();
    if (dims && dims->size() > kMaxTensorRank)
      return invalid_model(what, ": rank ", dims->size(), " is over the limit of ", kMaxTensorRank);
    if (dims) {
      for (size_t d = 0; d < dims->size(); ++d) {
        const int32_t size = dims->Get(static_cast<flatbuffers::uoffset_t>(d));
        if (size < 0) return invalid_model(what, ": negative dimension ", size);
        shape.push_back(size);
        const bool dynamic = signature && signature->size() == dims->size() &&
                             signature->Get(static_cast<flatbuffers::uoffset_t>(d)) < 0;
        declared.push_back(dynamic ? Dim{-1, {}} : Dim{size, {}});
      }
    }
    ISKRA_RETURN_IF_ERROR(validate_shape(dtype, shape, what));
    ISKRA_ASSIGN_OR_RETURN(std::span<const uint8_t> bytes, buffer_bytes(t->buffer(), what));
    if (t->sparsity()) {
      if (bytes.empty()) return invalid_model(what, ": a sparse tensor without data");
      ISKRA_ASSIGN_OR_RETURN(Tensor dense, tflite::densify(*t->sparsity(), dtype, shape, bytes.data(), bytes.size(), what));
      value_of_tensor_[index] = graph_.add_constant(name, std::move(dense));
      return Status::ok();
    }
    if (!bytes.empty()) {
      const size_t expected = static_cast<size_t>(shape_element_count(shape)) * dtype_size(dtype);
      if (bytes.size() != expected)
        return invalid_model(what, ": its buffer holds ", bytes.size(), " bytes, but ", dtype_name(dtype),
                             shape_to_string(shape), " needs ", expected);
      Tensor constant;
      if (reinterpret_cast<uintptr_t>(bytes.data()) % std::max<size_t>(dtype_size(dtype), 1) == 0) {
        constant = Tensor::shared(dtype, shape, const_cast<uint8_t*>(bytes.data()), owner_);  // in place
      } else {
        ISKRA_ASSIGN_OR_RETURN(constant, Tensor::allocate_uninitialized(dtype, shape));
        std::memcpy(constant.raw_data(), bytes.data(), bytes.size());
      }
      value_of_tensor_[index] = graph_.add_constant(name, std::move(constant));
      return Status::ok();
    }
    const int id = graph_.add_value(name, dtype);
    graph_.value(id).shape = std::move(declared);
    value_of_tensor_[index] = id;
    return Status::ok();
  }

  // The tensor index list of an operator or subgraph, each checked (-1 allowed where `optional`).
  Result<std::vector<int>> tensor_indices(const flatbuffers::Vector<int32_t>* list, bool optional,
                                          const std::string& what) const {
    std::vector<int> out;
    if (!list) return out;
    for (int32_t t : *list) {
      if (t == -1 && optional) {
        out.push_back(-1);
        continue;
      }
      if (t < 0 || static_cast<size_t>(t) >= value_of_tensor_.size())
        return invalid_model(what, ": tensor index ", t, " is out of range (the subgraph has ",
                             value_of_tensor_.size(), " tensors)");
      out.push_back(t);
    }
    return out;
  }

  Status import_subgraph(const schema::SubGraph& subgraph) {
    ISKRA_RETURN_IF_ERROR(check_name(view(subgraph.name()), "subgraph"));
    graph_.name = subgraph.name() ? subgraph.name()->str() : "main";
    const size_t tensor_count = subgraph.tensors() ? subgraph.tensors()->size() : 0;
    value_of_tensor_.assign(tensor_count, kNoValue);
    for (size_t i = 0; i < tensor_count; ++i)
      ISKRA_RETURN_IF_ERROR(import_tensor(subgraph.tensors()->Get(static_cast<flatbuffers::uoffset_t>(i)), i));

    ISKRA_ASSIGN_OR_RETURN(std::vector<int> inputs, tensor_indices(subgraph.inputs(), false, "subgraph inputs"));
    for (int t : inputs) {
      const int id = value_of_tensor_[static_cast<size_t>(t)];
      if (graph_.value(id).constant) continue;  // a constant listed as an input: stays a constant
      if (std::find(graph_.inputs.begin(), graph_.inputs.end(), id) != graph_.inputs.end())
        return invalid_model("subgraph input tensor #", t, " is listed twice");
      graph_.inputs.push_back(id);
    }

    std::vector<bool> produced(tensor_count, false);
    tflite::GraphEmitter emitter(graph_, value_of_tensor_);
    const auto* ops = subgraph.operators();
    for (size_t n = 0; ops && n < ops->size(); ++n) {
      const schema::Operator* op = ops->Get(static_cast<flatbuffers::uoffset_t>(n));
      tflite::OpToConvert c;
      ISKRA_RETURN_IF_ERROR(describe_operator(op, n, subgraph, c));
      for (int t : c.output_tensor_ids) {
        if (graph_.value(value_of_tensor_[static_cast<size_t>(t)]).constant || produced[static_cast<size_t>(t)] ||
            std::find(inputs.begin(), inputs.end(), t) != inputs.end())
          return invalid_model(c.label, "output tensor #", t, " is a constant, a graph input or written twice");
        produced[static_cast<size_t>(t)] = true;
      }
      ISKRA_RETURN_IF_ERROR(tflite::convert_operator(c, emitter).with_context(c.label));
    }

    ISKRA_ASSIGN_OR_RETURN(std::vector<int> outputs, tensor_indices(subgraph.outputs(), false, "subgraph outputs"));
    for (int t : outputs) graph_.outputs.push_back(value_of_tensor_[static_cast<size_t>(t)]);
    return topological_sort(graph_);
  }

  Status describe_operator(const schema::Operator* op, size_t index, const schema::SubGraph& subgraph,
                           tflite::OpToConvert& c) const {
    const auto* codes = model_->operator_codes();
    const std::string where = str_cat("tflite operator #", index);
    if (!codes || op->opcode_index() >= codes->size())
      return invalid_model(where, ": opcode index ", op->opcode_index(), " is out of range");
    const schema::OperatorCode* code = codes->Get(op->opcode_index());
    // builtin_code was added as an int32 after the int8 deprecated_builtin_code
    // ran out of values; old files have only the latter.
    c.code = static_cast<BuiltinOperator>(
        std::max<int32_t>(static_cast<int32_t>(code->builtin_code()), code->deprecated_builtin_code()));
    c.version = code->version();
    if (c.code == BuiltinOperator::CUSTOM) {
      ISKRA_RETURN_IF_ERROR(check_name(view(code->custom_code()), where + " (custom op)"));
      c.custom_code = code->custom_code() ? code->custom_code()->str() : "";
    }
    const char* op_name = schema::EnumNameBuiltinOperator(c.code);
    const std::string kind = c.code == BuiltinOperator::CUSTOM ? "custom " + c.custom_code
                             : *op_name ? std::string(op_name)
                                        : str_cat("builtin ", static_cast<int32_t>(c.code));
    c.op = op;
    c.source_op = str_cat("tflite:", c.code == BuiltinOperator::CUSTOM ? c.custom_code : kind, "-v", c.version);
    ISKRA_ASSIGN_OR_RETURN(std::vector<int> in, tensor_indices(op->inputs(), true, where + " (" + kind + ") inputs"));
    ISKRA_ASSIGN_OR_RETURN(std::vector<int> out, tensor_indices(op->outputs(), true, where + " (" + kind + ") outputs"));
    for (int t : in) {
      c.inputs.push_back(t < 0 ? kNoValue : value_of_tensor_[static_cast<size_t>(t)]);
      c.input_tensors.push_back(t < 0 ? nullptr : subgraph.tensors()->Get(static_cast<flatbuffers::uoffset_t>(t)));
    }
    for (int t : out) {
      if (t < 0) continue;
      c.outputs.push_back(value_of_tensor_[static_cast<size_t>(t)]);
      c.output_tensor_ids.push_back(t);
      c.output_tensors.push_back(subgraph.tensors()->Get(static_cast<flatbuffers::uoffset_t>(t)));
    }
    if (c.outputs.empty()) return invalid_model(where, " (", kind, ") has no output");
    c.name = graph_.value(c.outputs[0]).name;
    c.label = str_cat(where, " (", kind, ") '", c.name, "': ");
    return Status::ok();
  }

  const uint8_t* data_;
  size_t size_;
  std::shared_ptr<void> owner_;
  const schema::Model* model_ = nullptr;
  Graph graph_;
  std::vector<int> value_of_tensor_;
};

}  // namespace

Result<Model> import_tflite_file(std::shared_ptr<MappedFile> file) {
  const auto* data = static_cast<const uint8_t*>(file->data());
  const size_t size = file->size();
  const std::string path = file->path();
  TfliteImporter importer(data, size, std::shared_ptr<void>(file, const_cast<void*>(file->data())));
  auto model = importer.import();
  if (!model) return model.status().with_context(path + ": ");
  model->info.source_path = path;
  return model;
}

Result<Model> import_tflite_buffer(const void* data, size_t size) {
  std::shared_ptr<void> copy = allocate_aligned(size, false);
  if (!copy) return out_of_memory("cannot copy a TFLite model of ", size, " bytes");
  std::memcpy(copy.get(), data, size);
  return TfliteImporter(static_cast<const uint8_t*>(copy.get()), size, copy).import();
}

}  // namespace iskra
