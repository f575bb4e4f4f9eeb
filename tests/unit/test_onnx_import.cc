// Importer behaviour on good and hostile ONNX models, built here with ONNX's
// own protobuf classes so each test states exactly what the file holds.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

#include "api/model_loader.h"
#include "import/onnx/onnx_importer.h"
#include "runtime/session.h"

namespace iskra {
namespace {

namespace fs = std::filesystem;

void set_tensor_type(onnx::ValueInfoProto* info, const std::string& name, int elem, std::vector<int64_t> dims) {
  info->set_name(name);
  auto* tt = info->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    if (d < 0) shape->add_dim()->set_dim_param("n");
    else shape->add_dim()->set_dim_value(d);
  }
}

// y = Relu(x) with x: f32[2,3], opset 13.
onnx::ModelProto relu_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("relu");
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 3});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {2, 3});
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->set_name("relu1");
  n->add_input("x");
  n->add_output("y");
  return m;
}

Result<Model> load(const onnx::ModelProto& m) {
  std::string bytes = m.SerializeAsString();
  return load_model_buffer(bytes.data(), bytes.size());
}

void expect_error(const Status& s, StatusCode code, const std::string& fragment) {
  EXPECT_EQ(s.code(), code) << s.message();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << "message: " << s.message();
}

TEST(OnnxImport, LoadsAndRunsRelu) {
  auto model = load(relu_model());
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  EXPECT_EQ(model->info.format, "onnx");
  EXPECT_EQ(model->info.opset, 13);
  auto session = Session::create(std::move(model).value());
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  auto x = Tensor::from_vector<float>({2, 3}, {-1, 2, -3, 4, 0, -0.5f});
  std::vector<Tensor> out;
  ASSERT_TRUE((*session)->run({&x.value(), 1}, out).is_ok());
  const std::vector<float> want = {0, 2, 0, 4, 0, 0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out[0].data<float>()[i], want[i]);
}

TEST(OnnxImport, TruncatedFileIsAnError) {
  std::string bytes = relu_model().SerializeAsString();
  for (size_t cut : {bytes.size() - 1, bytes.size() / 2, size_t{3}}) {
    auto model = load_model_buffer(bytes.data(), cut);
    EXPECT_FALSE(model.is_ok()) << "cut at " << cut;
  }
}

TEST(OnnxImport, NotAModelIsAnError) {
  const std::string text = "hello, this is not a model\n";
  auto model = load_model_buffer(text.data(), text.size());
  expect_error(model.status(), StatusCode::kInvalidModel, "not a model");
}

TEST(OnnxImport, UnknownOpNamesOpDomainOpsetAndNode) {
  auto m = relu_model();
  m.mutable_graph()->mutable_node(0)->set_op_type("FrobnicateV2");
  auto model = load(m);
  expect_error(model.status(), StatusCode::kUnsupported, "FrobnicateV2");
  EXPECT_NE(model.status().message().find("relu1"), std::string::npos);
  EXPECT_NE(model.status().message().find("opset 13"), std::string::npos);

  auto custom = relu_model();
  custom.mutable_graph()->mutable_node(0)->set_domain("com.example");
  auto* imp = custom.add_opset_import();
  imp->set_domain("com.example");
  imp->set_version(1);
  expect_error(load(custom).status(), StatusCode::kUnsupported, "com.example");
}

TEST(OnnxImport, DanglingInputIsAnError) {
  auto m = relu_model();
  m.mutable_graph()->mutable_node(0)->set_input(0, "nowhere");
  expect_error(load(m).status(), StatusCode::kInvalidModel, "'nowhere'");
}

TEST(OnnxImport, TensorDataLengthMustMatchShape) {
  auto m = relu_model();
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(4);
  init->add_float_data(1.0f);  // one value for four elements
  expect_error(load(m).status(), StatusCode::kInvalidModel, "initializer 'w'");

  init->clear_float_data();
  init->set_raw_data(std::string(7, '\0'));  // 7 bytes for 16
  expect_error(load(m).status(), StatusCode::kInvalidModel, "raw data has 7 bytes");
}

TEST(OnnxImport, AbsurdDimsAreRejectedBeforeAllocating) {
  auto m = relu_model();
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("huge");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(int64_t{1} << 40);
  init->add_dims(int64_t{1} << 40);
  expect_error(load(m).status(), StatusCode::kInvalidArgument, "overflows");

  init->clear_dims();
  init->add_dims(-5);
  expect_error(load(m).status(), StatusCode::kInvalidArgument, "negative dimension");

  auto neg_input = relu_model();
  neg_input.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()
      ->mutable_dim(0)->set_dim_value(-3);
  expect_error(load(neg_input).status(), StatusCode::kInvalidModel, "negative dimension");
}

TEST(OnnxImport, HugeRanksAndNamesAreRejected) {
  auto m = relu_model();
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("deep");
  init->set_data_type(onnx::TensorProto::FLOAT);
  for (int i = 0; i < 33; ++i) init->add_dims(1);
  init->add_float_data(1.0f);
  expect_error(load(m).status(), StatusCode::kInvalidModel, "rank 33 is over the limit of 32");
  init->clear_dims();
  for (int i = 0; i < 32; ++i) init->add_dims(1);
  EXPECT_TRUE(load(m).is_ok()) << load(m).status().message();

  auto deep_input = relu_model();
  auto* shape = deep_input.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int i = 0; i < 40; ++i) shape->add_dim()->set_dim_value(1);
  expect_error(load(deep_input).status(), StatusCode::kInvalidModel, "rank 42 is over the limit");

  auto long_value = relu_model();
  const std::string name(5000, 'v');
  long_value.mutable_graph()->mutable_node(0)->set_output(0, name);
  long_value.mutable_graph()->mutable_output(0)->set_name(name);
  expect_error(load(long_value).status(), StatusCode::kInvalidModel, "5000 bytes long, over the limit of 4096");

  auto long_node = relu_model();
  long_node.mutable_graph()->mutable_node(0)->set_name(std::string(1 << 20, 'n'));
  expect_error(load(long_node).status(), StatusCode::kInvalidModel, "node of type 'Relu': name 'nnnn");
}

// y = If(c) { If(c) { ... { y = Identity(x) } } } with `depth` nested Ifs.
onnx::ModelProto nested_ifs(int depth) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "c", onnx::TensorProto::BOOL, {});
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {2});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {2});
  onnx::GraphProto* body = g;
  for (int level = 0; level < depth; ++level) {
    auto* n = body->add_node();
    n->set_op_type("If");
    n->set_name("if" + std::to_string(level));
    n->add_input("c");
    n->add_output(level == 0 ? "y" : "y" + std::to_string(level));
    onnx::GraphProto* branches[2];
    for (int b = 0; b < 2; ++b) {
      auto* attr = n->add_attribute();
      attr->set_name(b == 0 ? "then_branch" : "else_branch");
      attr->set_type(onnx::AttributeProto::GRAPH);
      branches[b] = attr->mutable_g();
      set_tensor_type(branches[b]->add_output(), "y" + std::to_string(level + 1), onnx::TensorProto::FLOAT, {2});
    }
    auto* leaf = branches[1]->add_node();  // else: Identity(x)
    leaf->set_op_type("Identity");
    leaf->add_input("x");
    leaf->add_output("y" + std::to_string(level + 1));
    body = branches[0];
  }
  auto* leaf = body->add_node();
  leaf->set_op_type("Identity");
  leaf->add_input("x");
  leaf->add_output("y" + std::to_string(depth));
  return m;
}

TEST(OnnxImport, SubgraphNestingIsLimited) {
  EXPECT_TRUE(load(nested_ifs(16)).is_ok()) << load(nested_ifs(16)).status().message();
  expect_error(load(nested_ifs(17)).status(), StatusCode::kInvalidModel, "subgraphs nested deeper than 16");
  // Far deeper than protobuf's own recursion limit: refused by the parser, no stack overflow.
  expect_error(load(nested_ifs(2000)).status(), StatusCode::kInvalidModel, "not a valid ONNX model");
}

TEST(OnnxImport, ExternalDataMayNotEscapeTheModelFolder) {
  const fs::path dir = fs::temp_directory_path() / "iskra_test_external";
  fs::create_directories(dir / "model");
  {
    std::ofstream secret(dir / "secret.bin", std::ios::binary);
    secret << std::string(16, 'x');
  }
  auto m = relu_model();
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(4);
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = init->add_external_data();
  loc->set_key("location");
  loc->set_value("../secret.bin");
  const fs::path path = dir / "model" / "m.onnx";
  {
    std::ofstream f(path, std::ios::binary);
    f << m.SerializeAsString();
  }
  expect_error(load_model_file(path.string()).status(), StatusCode::kInvalidModel, "escapes the model's folder");

  loc->set_value("/etc/passwd");
  {
    std::ofstream f(path, std::ios::binary);
    f << m.SerializeAsString();
  }
  expect_error(load_model_file(path.string()).status(), StatusCode::kInvalidModel, "must be a relative path");

  // A file inside the folder is read.
  {
    std::ofstream w(dir / "model" / "w.bin", std::ios::binary);
    const float values[4] = {1, 2, 3, 4};
    w.write(reinterpret_cast<const char*>(values), sizeof values);
  }
  loc->set_value("w.bin");
  {
    std::ofstream f(path, std::ios::binary);
    f << m.SerializeAsString();
  }
  auto ok = load_model_file(path.string());
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  const Graph& g = *ok->graph;
  bool found = false;
  for (const Value& v : g.values)
    if (v.name == "w" && v.constant) {
      found = true;
      EXPECT_EQ(v.constant->data<float>()[3], 4.0f);
    }
  EXPECT_TRUE(found);
  fs::remove_all(dir);
}

TEST(OnnxImport, SessionChecksInputs) {
  auto model = load(relu_model());
  ASSERT_TRUE(model.is_ok());
  auto session = Session::create(std::move(model).value());
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  std::vector<Tensor> out;
  // Missing input.
  expect_error((*session)->run({}, out), StatusCode::kInvalidArgument, "1 inputs, 0 were given");
  // Wrong shape.
  auto bad_shape = Tensor::from_vector<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  expect_error((*session)->run({&bad_shape.value(), 1}, out), StatusCode::kInvalidArgument, "'x' must have shape [2,3]");
  // Wrong dtype.
  auto bad_dtype = Tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_error((*session)->run({&bad_dtype.value(), 1}, out), StatusCode::kInvalidArgument, "'x' must be f32");
}

TEST(OnnxImport, CyclesAreRejected) {
  auto m = relu_model();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_input(0, "z");
  auto* n2 = g->add_node();
  n2->set_op_type("Neg");
  n2->add_input("y");
  n2->add_output("z");
  // y depends on z and z on y.
  expect_error(load(m).status(), StatusCode::kInvalidModel, "cycle");
}

TEST(OnnxImport, NodesOutOfOrderAreSorted) {
  auto m = relu_model();
  auto* g = m.mutable_graph();
  g->mutable_output(0)->set_name("z");
  auto* n2 = g->add_node();
  n2->set_op_type("Neg");
  n2->add_input("y");
  n2->add_output("z");
  g->mutable_node()->SwapElements(0, 1);  // Neg before the Relu that feeds it
  auto model = load(m);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  EXPECT_EQ(model->graph->nodes[0].op, OpKind::Relu);
  EXPECT_EQ(model->graph->nodes[1].op, OpKind::Neg);
}

TEST(OnnxImport, SubgraphCapturesOuterValues) {
  // out = If(cond) then { x } else { Neg(x) } — both branches read outer x.
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "cond", onnx::TensorProto::BOOL, {});
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {2});
  set_tensor_type(g->add_output(), "out", onnx::TensorProto::FLOAT, {2});
  auto* node = g->add_node();
  node->set_op_type("If");
  node->add_input("cond");
  node->add_output("out");
  auto* then_attr = node->add_attribute();
  then_attr->set_name("then_branch");
  then_attr->set_type(onnx::AttributeProto::GRAPH);
  auto* then_g = then_attr->mutable_g();
  auto* id = then_g->add_node();
  id->set_op_type("Identity");
  id->add_input("x");
  id->add_output("t");
  set_tensor_type(then_g->add_output(), "t", onnx::TensorProto::FLOAT, {2});
  auto* else_attr = node->add_attribute();
  else_attr->set_name("else_branch");
  else_attr->set_type(onnx::AttributeProto::GRAPH);
  auto* else_g = else_attr->mutable_g();
  auto* neg = else_g->add_node();
  neg->set_op_type("Neg");
  neg->add_input("x");
  neg->add_output("e");
  set_tensor_type(else_g->add_output(), "e", onnx::TensorProto::FLOAT, {2});

  auto model = load(m);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const Node& if_node = model->graph->nodes[0];
  EXPECT_EQ(if_node.capture_count, 1u);
  ASSERT_EQ(if_node.inputs.size(), 2u);
  EXPECT_EQ(model->graph->value(if_node.inputs[1]).name, "x");

  auto session = Session::create(std::move(model).value());
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  auto x = Tensor::from_vector<float>({2}, {1.5f, -2});
  for (bool c : {true, false}) {
    auto cond = Tensor::from_vector<bool>({}, {c});
    std::vector<Tensor> in = {cond.value(), x.value()}, out;
    ASSERT_TRUE((*session)->run(in, out).is_ok());
    EXPECT_EQ(out[0].data<float>()[0], c ? 1.5f : -1.5f);
    EXPECT_EQ(out[0].data<float>()[1], c ? -2.0f : 2.0f);
  }
}

TEST(Planning, DeclaredTypeMismatchIsAnError) {
  auto m = relu_model();
  // Relu of f32 produces f32, but the file declares the output as i64.
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
  auto model = load(m);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  // The input shape is fixed, so the session plans (and finds it) at load.
  auto session = Session::create(std::move(model).value());
  expect_error(session.status(), StatusCode::kInvalidModel, "output 'y' is declared i64 but the op produces f32");
}

TEST(Planning, ShapeChainsOnGraphInputsResolveAtPlanTime) {
  // y = Reshape(x, Concat(Gather(Shape(x), 0), [-1])) with x: f32[n, 2, 3].
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {-1, 2, 3});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {-1, 6});
  auto add = [&](const char* op, std::vector<std::string> in, std::string out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    for (auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  };
  auto* zero = g->add_initializer();
  zero->set_name("zero");
  zero->set_data_type(onnx::TensorProto::INT64);
  zero->add_dims(1);
  zero->add_int64_data(0);
  auto* minus_one = g->add_initializer();
  minus_one->set_name("minus_one");
  minus_one->set_data_type(onnx::TensorProto::INT64);
  minus_one->add_dims(1);
  minus_one->add_int64_data(-1);
  add("Shape", {"x"}, "s");
  auto* gather = add("Gather", {"s", "zero"}, "n");
  auto* axis = gather->add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(0);
  auto* concat = add("Concat", {"n", "minus_one"}, "shape");
  auto* caxis = concat->add_attribute();
  caxis->set_name("axis");
  caxis->set_type(onnx::AttributeProto::INT);
  caxis->set_i(0);
  add("Reshape", {"x", "shape"}, "y");

  auto model = load(m);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto session = Session::create(std::move(model).value());
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  for (int64_t n : {4, 1, 4}) {  // shape changes force a re-plan
    auto x = Tensor::allocate(DType::kF32, {n, 2, 3});
    ASSERT_TRUE(x.is_ok());
    for (int64_t i = 0; i < n * 6; ++i) x->data<float>()[i] = static_cast<float>(i);
    std::vector<Tensor> out;
    ASSERT_TRUE((*session)->run({&x.value(), 1}, out).is_ok());
    EXPECT_EQ(out[0].shape(), (Shape{n, 6}));
    EXPECT_EQ(out[0].data<float>()[n * 6 - 1], static_cast<float>(n * 6 - 1));
    EXPECT_EQ((*session)->dynamic_node_count(), 0u) << "the shape chain should fold when planning";
  }
}

}  // namespace
}  // namespace iskra
