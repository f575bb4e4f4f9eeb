// Tests of the header-only C++ API (include/iskra/iskra.hpp), compiled as
// C++17 and using only the public headers.
//
// usage: iskra_cpp_api_test ONNX_BACKEND_DIR [gtest flags]
#include "iskra/iskra.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

std::string g_data_dir;

std::string relu_path() { return g_data_dir + "/node/test_relu/model.onnx"; }

bool have_data() { return std::ifstream(relu_path()).good(); }

#define REQUIRE_DATA() \
  if (!have_data()) GTEST_SKIP() << relu_path() << " not found (run scripts/setup)"

std::vector<float> relu_input() {
  std::vector<float> x(60);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.5f - 15.0f;
  return x;
}

void expect_relu(const std::vector<float>& x, const iskra::Tensor& y) {
  ASSERT_EQ(y.dtype(), ISKRA_DTYPE_F32);
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{3, 4, 5}));
  const std::vector<float> values = y.to_vector<float>();
  ASSERT_EQ(values.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(values[i], x[i] > 0 ? x[i] : 0.0f) << i;
}

TEST(CppApi, DescribesModel) {
  REQUIRE_DATA();
  iskra::Model model = iskra::Model::load(relu_path());
  ASSERT_TRUE(model);
  const auto inputs = model.inputs();
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0].name, "x");
  EXPECT_EQ(inputs[0].dtype, ISKRA_DTYPE_F32);
  EXPECT_TRUE(inputs[0].has_shape);
  EXPECT_EQ(inputs[0].shape, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(inputs[0].dim_names, (std::vector<std::string>{"", "", ""}));
  const auto outputs = model.outputs();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].name, "y");
}

TEST(CppApi, RunsByName) {
  REQUIRE_DATA();
  iskra::Model model = iskra::Model::load(relu_path(), iskra::ModelOptions{2});
  const std::vector<float> x = relu_input();
  iskra::Tensor input = iskra::Tensor::from_data<float>({3, 4, 5}, x);
  std::vector<iskra::Tensor> outputs = model.run({{"x", input}});
  ASSERT_EQ(outputs.size(), 1u);
  expect_relu(x, outputs[0]);

  // The vector overload, and a tensor written in place.
  iskra::Tensor zeros = iskra::Tensor::zeros(ISKRA_DTYPE_F32, {3, 4, 5});
  float* p = zeros.data<float>();
  for (size_t i = 0; i < x.size(); ++i) p[i] = x[i];
  std::vector<iskra::NamedInput> named = {{"x", zeros}};
  outputs = model.run(named);
  expect_relu(x, outputs.at(0));
}

TEST(CppApi, LoadsFromBuffer) {
  REQUIRE_DATA();
  std::ifstream file(relu_path(), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  iskra::Model model = iskra::Model::load_buffer(bytes.data(), bytes.size());
  bytes.assign(bytes.size(), 0);  // not used after loading
  const std::vector<float> x = relu_input();
  auto outputs = model.run({{"x", iskra::Tensor::from_data<float>({3, 4, 5}, x)}});
  expect_relu(x, outputs.at(0));
}

TEST(CppApi, ErrorsAreExceptionsWithStatus) {
  try {
    iskra::Model::load("/nonexistent/model.onnx");
    FAIL() << "no exception";
  } catch (const iskra::Error& e) {
    EXPECT_EQ(e.status(), ISKRA_IO_ERROR);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.onnx"), std::string::npos);
  }
  EXPECT_THROW(iskra::Tensor::from_data<float>({2, 2}, std::vector<float>{1, 2, 3}), iskra::Error);

  if (!have_data()) return;
  iskra::Model model = iskra::Model::load(relu_path());
  iskra::Tensor wrong = iskra::Tensor::zeros(ISKRA_DTYPE_F32, {4, 5});
  try {
    model.run({{"x", wrong}});
    FAIL() << "no exception";
  } catch (const iskra::Error& e) {
    EXPECT_EQ(e.status(), ISKRA_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
  try {
    model.run({{"nope", wrong}});
    FAIL() << "no exception";
  } catch (const iskra::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model.run({}), iskra::Error);
}

TEST(CppApi, TensorBasics) {
  iskra::Tensor t = iskra::Tensor::from_data<int64_t>({2}, std::vector<int64_t>{7, -3});
  EXPECT_EQ(t.dtype(), ISKRA_DTYPE_I64);
  EXPECT_EQ(t.shape(), std::vector<int64_t>{2});
  EXPECT_EQ(t.element_count(), 2u);
  EXPECT_EQ(t.byte_size(), 16u);
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{7, -3}));
  EXPECT_THROW(t.data<float>(), iskra::Error);

  iskra::Tensor moved = std::move(t);
  EXPECT_FALSE(t);  // NOLINT: testing the moved-from state
  EXPECT_TRUE(moved);
  EXPECT_THROW(t.dtype(), iskra::Error);  // an empty tensor is an error, not a crash

  const bool flags[3] = {true, false, true};
  iskra::Tensor b = iskra::Tensor::from_data<bool>({3}, flags, 3);
  EXPECT_EQ(b.dtype(), ISKRA_DTYPE_BOOL);
  EXPECT_TRUE(b.data<bool>()[2]);

  iskra::Tensor scalar = iskra::Tensor::zeros(ISKRA_DTYPE_F16, {});
  EXPECT_TRUE(scalar.shape().empty());
  EXPECT_EQ(scalar.element_count(), 1u);
  EXPECT_NE(scalar.data<uint16_t>(), nullptr);  // f16 bits as uint16_t
  EXPECT_STREQ(iskra::dtype_name(ISKRA_DTYPE_BF16), "bf16");
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ONNX_BACKEND_DIR [gtest flags]\n", argv[0]);
    return 2;
  }
  g_data_dir = argv[1];
  return RUN_ALL_TESTS();
}
