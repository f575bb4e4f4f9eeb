// The TFLite importer on small models built here with the FlatBuffers builder
// (so each test states exactly what the file holds): convolutions computed
// with TFLite's semantics (NHWC, [O, kh, kw, I] filters, SAME padding with the
// odd row at the end) against loops written out in the test, and one test per
// kind of bad file. Parity on the real MediaPipe models against LiteRT is in
// tests/models/check_parity.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "api/model_loader.h"
#include "base/half.h"
#include "ir/limits.h"
#include "runtime/session.h"
#include "tflite_schema_generated.h"

namespace iskra {
namespace {

namespace tfl = iskra::tflite_schema;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> bytes_of(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(float));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Builds a one-subgraph model: buffers, tensors, operators, in the order added.
struct ModelBuilder {
  FlatBufferBuilder fbb;
  std::vector<Offset<tfl::Buffer>> buffers;
  std::vector<Offset<tfl::Tensor>> tensors;
  std::vector<Offset<tfl::OperatorCode>> codes;
  std::vector<Offset<tfl::Operator>> operators;

  ModelBuilder() { buffers.push_back(tfl::CreateBufferDirect(fbb)); }  // buffer 0: the empty buffer

  int tensor(const std::string& name, std::vector<int32_t> shape, const std::vector<uint8_t>* data = nullptr,
             tfl::TensorType type = tfl::TensorType::FLOAT32, Offset<tfl::SparsityParameters> sparsity = 0,
             int buffer_override = -1) {
    uint32_t buffer = 0;
    if (data) {
      fbb.ForceVectorAlignment(data->size(), 1, 16);
      buffers.push_back(tfl::CreateBufferDirect(fbb, data));
      buffer = static_cast<uint32_t>(buffers.size() - 1);
    }
    if (buffer_override >= 0) buffer = static_cast<uint32_t>(buffer_override);
    tensors.push_back(tfl::CreateTensorDirect(fbb, &shape, type, buffer, name.c_str(), 0, false, sparsity));
    return static_cast<int>(tensors.size() - 1);
  }
  // A tensor with TFLite quantization parameters (real = scale * (q - zero_point)).
  int quantized(const std::string& name, std::vector<int32_t> shape, tfl::TensorType type, std::vector<float> scales,
                std::vector<int64_t> zero_points) {
    auto q = tfl::CreateQuantizationParametersDirect(fbb, nullptr, nullptr, &scales, &zero_points);
    tensors.push_back(tfl::CreateTensorDirect(fbb, &shape, type, 0, name.c_str(), q));
    return static_cast<int>(tensors.size() - 1);
  }
  int constant(const std::string& name, std::vector<int32_t> shape, const std::vector<float>& values) {
    const std::vector<uint8_t> data = bytes_of(values);
    return tensor(name, std::move(shape), &data);
  }
  void op(tfl::BuiltinOperator code, std::vector<int32_t> in, std::vector<int32_t> out,
          tfl::BuiltinOptions options_type = tfl::BuiltinOptions::NONE, Offset<void> options = 0,
          const char* custom = nullptr) {
    codes.push_back(tfl::CreateOperatorCodeDirect(fbb, static_cast<int8_t>(std::min<int>(static_cast<int>(code), 127)),
                                                  custom, 1, code));
    operators.push_back(tfl::CreateOperatorDirect(fbb, static_cast<uint32_t>(codes.size() - 1), &in, &out,
                                                  options_type, options));
  }
  std::vector<uint8_t> finish(std::vector<int32_t> inputs, std::vector<int32_t> outputs) {
    auto subgraph = tfl::CreateSubGraphDirect(fbb, &tensors, &inputs, &outputs, &operators, "main");
    std::vector<Offset<tfl::SubGraph>> subgraphs = {subgraph};
    auto model = tfl::CreateModelDirect(fbb, 3, &codes, &subgraphs, "iskra test", &buffers);
    tfl::FinishModelBuffer(fbb, model);
    return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
  }
};

Result<std::vector<Tensor>> run_model(const std::vector<uint8_t>& file, const std::vector<Tensor>& inputs,
                                      bool optimize = true) {
  ISKRA_ASSIGN_OR_RETURN(Model model, load_model_buffer(file.data(), file.size()));
  SessionOptions options;
  options.optimize = optimize;
  options.reference_kernels = !optimize;
  ISKRA_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(std::move(model), options));
  std::vector<Tensor> outputs;
  ISKRA_RETURN_IF_ERROR(session->run(inputs, outputs));
  return outputs;
}

Tensor nhwc_input(const std::vector<float>& values, Shape shape) {
  return Tensor::from_vector<float>(std::move(shape), values).value();
}

void expect_load_error(const std::vector<uint8_t>& file, const std::string& fragment) {
  auto model = load_model_buffer(file.data(), file.size());
  ASSERT_FALSE(model.is_ok()) << "expected an error containing: " << fragment;
  EXPECT_NE(model.status().message().find(fragment), std::string::npos) << model.status().message();
}

// Conv 3x3, stride 2, SAME on 7x6 (the odd padding row/column at the end,
// as TFLite pads), bias, RELU6; then a depthwise 3x3 with multiplier 2, VALID.
TEST(TfliteImport, ConvAndDepthwiseMatchTfliteSemantics) {
  constexpr int H = 7, W = 6, C = 3, O = 4, M = 2;
  const std::vector<float> x = random_floats(H * W * C, 1), w = random_floats(O * 3 * 3 * C, 2),
                           b = random_floats(O, 3), dw = random_floats(3 * 3 * O * M, 4),
                           db = random_floats(O * M, 5);
  ModelBuilder m;
  const int in = m.tensor("image", {1, H, W, C});
  const int wt = m.constant("conv/filter", {O, 3, 3, C}, w), bt = m.constant("conv/bias", {O}, b);
  const int conv = m.tensor("conv", {1, 4, 3, O});
  m.op(tfl::BuiltinOperator::CONV_2D, {in, wt, bt}, {conv}, tfl::BuiltinOptions::Conv2DOptions,
       tfl::CreateConv2DOptions(m.fbb, tfl::Padding::SAME, 2, 2, tfl::ActivationFunctionType::RELU6).Union());
  const int dwt = m.constant("dw/filter", {1, 3, 3, O * M}, dw), dbt = m.constant("dw/bias", {O * M}, db);
  const int out = m.tensor("features", {1, 2, 1, O * M});
  m.op(tfl::BuiltinOperator::DEPTHWISE_CONV_2D, {conv, dwt, dbt}, {out}, tfl::BuiltinOptions::DepthwiseConv2DOptions,
       tfl::CreateDepthwiseConv2DOptions(m.fbb, tfl::Padding::VALID, 1, 1, M).Union());
  const std::vector<uint8_t> file = m.finish({in}, {out});

  // The oracle: TFLite's definitions, loop by loop.
  const int pad_top = ((4 - 1) * 2 + 3 - H) / 2, pad_left = ((3 - 1) * 2 + 3 - W) / 2;  // total / 2, rest at the end
  std::vector<float> c(4 * 3 * O);
  for (int oy = 0; oy < 4; ++oy)
    for (int ox = 0; ox < 3; ++ox)
      for (int o = 0; o < O; ++o) {
        float acc = b[o];
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int iy = oy * 2 + ky - pad_top, ix = ox * 2 + kx - pad_left;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            for (int i = 0; i < C; ++i) acc += x[(iy * W + ix) * C + i] * w[((o * 3 + ky) * 3 + kx) * C + i];
          }
        c[(oy * 3 + ox) * O + o] = std::min(std::max(acc, 0.0f), 6.0f);
      }
  std::vector<float> expected(2 * 1 * O * M);
  for (int oy = 0; oy < 2; ++oy)
    for (int ch = 0; ch < O * M; ++ch) {
      float acc = db[ch];
      for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx) acc += c[((oy + ky) * 3 + kx) * O + ch / M] * dw[(ky * 3 + kx) * O * M + ch];
      expected[oy * O * M + ch] = acc;
    }

  for (bool optimize : {false, true}) {
    auto outputs = run_model(file, {nhwc_input(x, {1, H, W, C})}, optimize);
    ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
    ASSERT_EQ(outputs->size(), 1u);
    const Tensor& y = (*outputs)[0];
    ASSERT_EQ(y.shape(), (Shape{1, 2, 1, O * M}));
    for (size_t i = 0; i < expected.size(); ++i)
      EXPECT_NEAR(y.data<float>()[i], expected[i], 1e-5f * (1 + std::fabs(expected[i]))) << i << " optimize " << optimize;
  }
}

// fp16 weights behind DEQUANTIZE become float32 constants at load.
TEST(TfliteImport, Float16WeightsAreDequantizedAtLoad) {
  ModelBuilder m;
  const int in = m.tensor("x", {1, 4});
  const std::vector<float> w = {0.5f, -1.25f, 2.0f, 0.125f, 3.0f, -0.75f, 1.5f, -2.5f};  // exact in fp16
  std::vector<uint8_t> half(w.size() * 2);
  for (size_t i = 0; i < w.size(); ++i) {
    const uint16_t h = Float16(w[i]).bits;
    std::memcpy(&half[2 * i], &h, 2);
  }
  const int w16 = m.tensor("w16", {2, 4}, &half, tfl::TensorType::FLOAT16);
  const int w32 = m.tensor("w32", {2, 4});
  m.op(tfl::BuiltinOperator::DEQUANTIZE, {w16}, {w32});
  const int y = m.tensor("y", {1, 2});
  m.op(tfl::BuiltinOperator::FULLY_CONNECTED, {in, w32, -1}, {y}, tfl::BuiltinOptions::FullyConnectedOptions,
       tfl::CreateFullyConnectedOptions(m.fbb).Union());
  const std::vector<uint8_t> file = m.finish({in}, {y});
  auto model = load_model_buffer(file.data(), file.size());
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  EXPECT_EQ(model->graph->nodes.size(), 2u);  // Reshape, Gemm: no DEQUANTIZE node is left
  auto outputs = run_model(file, {nhwc_input({1, 2, 3, 4}, {1, 4})});
  ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
  EXPECT_FLOAT_EQ((*outputs)[0].data<float>()[0], 0.5f - 2.5f + 6.0f + 0.5f);
  EXPECT_FLOAT_EQ((*outputs)[0].data<float>()[1], 3.0f - 1.5f + 4.5f - 10.0f);
}

std::vector<uint8_t> relu_model(int buffer_override = -1, const std::vector<uint8_t>* data = nullptr) {
  ModelBuilder m;
  const int in = m.tensor("x", {4});
  const int k = m.tensor("k", {4}, data, tfl::TensorType::FLOAT32, 0, buffer_override);
  const int y = m.tensor("y", {4});
  m.op(tfl::BuiltinOperator::ADD, {in, k}, {y}, tfl::BuiltinOptions::AddOptions,
       tfl::CreateAddOptions(m.fbb, tfl::ActivationFunctionType::RELU).Union());
  return m.finish({in}, {y});
}

TEST(TfliteImport, TruncatedOrCorruptFileIsAnError) {
  const std::vector<uint8_t> k = bytes_of({1, 2, 3, 4});
  std::vector<uint8_t> file = relu_model(-1, &k);
  ASSERT_TRUE(run_model(file, {nhwc_input({-5, 0, 0, 0}, {4})}).is_ok());
  expect_load_error(std::vector<uint8_t>(file.begin(), file.begin() + static_cast<long>(file.size() / 2)), "verifier");
  // A vtable offset pointing far out of the buffer.
  std::vector<uint8_t> corrupt = file;
  const uint32_t root = *reinterpret_cast<const uint32_t*>(corrupt.data());
  const uint32_t huge = 0x7ffffff0;
  std::memcpy(&corrupt[root], &huge, 4);
  expect_load_error(corrupt, "verifier");
}

TEST(TfliteImport, BufferIndexOutOfRangeIsAnError) {
  expect_load_error(relu_model(99), "buffer index 99 is out of range");
}

TEST(TfliteImport, DataShorterThanItsShapeIsAnError) {
  const std::vector<uint8_t> short_data = bytes_of({1, 2});
  expect_load_error(relu_model(-1, &short_data), "holds 8 bytes, but f32[4] needs 16");
}

// Names and ranks past the limits of ir/limits.h are refused before anything is built from them.
TEST(TfliteImport, OverlongNamesAndHugeRanksAreErrors) {
  const std::string long_name(kMaxNameBytes + 1, 'n');
  {
    ModelBuilder m;
    const int in = m.tensor(long_name, {4});
    const int y = m.tensor("y", {4});
    m.op(tfl::BuiltinOperator::RELU, {in}, {y});
    expect_load_error(m.finish({in}, {y}), "tensor #0 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...': name");
  }
  {
    ModelBuilder m;
    const int in = m.tensor("x", {4});
    const int y = m.tensor("y", {4});
    m.op(tfl::BuiltinOperator::CUSTOM, {in}, {y}, tfl::BuiltinOptions::NONE, 0, long_name.c_str());
    expect_load_error(m.finish({in}, {y}), "tflite operator #0 (custom op): name 'nnn");
  }
  {
    ModelBuilder m;
    const int in = m.tensor("x", std::vector<int32_t>(kMaxTensorRank + 1, 1));
    const int y = m.tensor("y", {1});
    m.op(tfl::BuiltinOperator::RELU, {in}, {y});
    expect_load_error(m.finish({in}, {y}), "rank 33 is over the limit of 32");
  }
  {  // at the limits: loads
    ModelBuilder m;
    const int in = m.tensor(std::string(kMaxNameBytes, 'n'), std::vector<int32_t>(kMaxTensorRank, 1));
    const int y = m.tensor("y", std::vector<int32_t>(kMaxTensorRank, 1));
    m.op(tfl::BuiltinOperator::RELU, {in}, {y});
    const std::vector<uint8_t> file = m.finish({in}, {y});
    auto model = load_model_buffer(file.data(), file.size());
    EXPECT_TRUE(model.is_ok()) << model.status().message();
  }
}

// y = x + k for a [2, 3] constant k stored as CSR: rows dense, columns sparse.
std::vector<uint8_t> add_sparse_model(const std::vector<int32_t>& segments, const std::vector<int32_t>& indices,
                                      const std::vector<float>& nonzeros) {
  ModelBuilder m;
  const int in = m.tensor("x", {2, 3});
  const std::vector<int32_t> order = {0, 1};
  auto dense_dim = tfl::CreateDimensionMetadata(m.fbb, tfl::DimensionType::DENSE, 2);
  auto sparse_dim = tfl::CreateDimensionMetadata(
      m.fbb, tfl::DimensionType::SPARSE_CSR, 3, tfl::SparseIndexVector::Int32Vector,
      tfl::CreateInt32VectorDirect(m.fbb, &segments).Union(), tfl::SparseIndexVector::Int32Vector,
      tfl::CreateInt32VectorDirect(m.fbb, &indices).Union());
  std::vector<Offset<tfl::DimensionMetadata>> dims = {dense_dim, sparse_dim};
  auto sparsity = tfl::CreateSparsityParametersDirect(m.fbb, &order, nullptr, &dims);
  const std::vector<uint8_t> values = bytes_of(nonzeros);
  const int k = m.tensor("k", {2, 3}, &values, tfl::TensorType::FLOAT32, sparsity);
  const int y = m.tensor("y", {2, 3});
  m.op(tfl::BuiltinOperator::ADD, {in, k}, {y}, tfl::BuiltinOptions::AddOptions, tfl::CreateAddOptions(m.fbb).Union());
  return m.finish({in}, {y});
}

TEST(TfliteImport, SparseMetadataThatDoesNotMatchIsAnError) {
  // A CSR [2, 3] tensor whose second row's segment points past its indices.
  expect_load_error(add_sparse_model({0, 1, 5}, {2}, {7, 8}), "segment 1 [1, 5) is out of range");
}

TEST(TfliteImport, SparseConstantIsDensified) {
  // [[0, 0, 7], [8, 0, 9]] as CSR.
  auto outputs = run_model(add_sparse_model({0, 1, 3}, {2, 0, 2}, {7, 8, 9}), {nhwc_input({1, 1, 1, 1, 1, 1}, {2, 3})});
  ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
  const std::vector<float> expected = {1, 1, 8, 9, 1, 10};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ((*outputs)[0].data<float>()[i], expected[i]) << i;
}

TEST(TfliteImport, UnsupportedOpsAreNamed) {
  for (bool custom : {false, true}) {
    ModelBuilder m;
    const int in = m.tensor("x", {4});
    const int y = m.tensor("y", {4});
    m.op(custom ? tfl::BuiltinOperator::CUSTOM : tfl::BuiltinOperator::LSH_PROJECTION, {in}, {y},
         tfl::BuiltinOptions::NONE, 0, custom ? "MyFancyOp" : nullptr);
    expect_load_error(m.finish({in}, {y}), custom ? "custom op 'MyFancyOp' is not supported"
                                                  : "builtin op LSH_PROJECTION (code 15) is not supported");
  }
}

// Tensor ops whose parameters the mapping cannot honour are refused by name (their accepted forms
// are compared with LiteRT on converter-made models in tests/models/check_parity.py).
TEST(TfliteImport, TensorOpsRefuseWhatTheyCannotMap) {
  auto ints = [](ModelBuilder& m, const std::string& name, const std::vector<int32_t>& values) {
    std::vector<uint8_t> data(values.size() * sizeof(int32_t));
    std::memcpy(data.data(), values.data(), data.size());
    return m.tensor(name, {static_cast<int32_t>(values.size())}, &data, tfl::TensorType::INT32);
  };
  {
    ModelBuilder m;
    const int x = m.tensor("x", {2, 3});
    const int y = m.tensor("y", {2, 3});
    const int begin = ints(m, "begin", {0, 0}), end = ints(m, "end", {2, 3}), strides = ints(m, "strides", {1, 1});
    m.op(tfl::BuiltinOperator::STRIDED_SLICE, {x, begin, end, strides}, {y}, tfl::BuiltinOptions::StridedSliceOptions,
         tfl::CreateStridedSliceOptions(m.fbb, 0, 0, /*ellipsis_mask=*/1).Union());
    expect_load_error(m.finish({x}, {y}), "STRIDED_SLICE with an ellipsis_mask or new_axis_mask is not supported");
  }
  {
    ModelBuilder m;
    const int x = m.tensor("x", {6});
    const int a = m.tensor("a", {3}), b = m.tensor("b", {3});
    const int sizes = ints(m, "sizes", {-1, -1}), axis = ints(m, "axis", {0});
    m.op(tfl::BuiltinOperator::SPLIT_V, {x, sizes, axis}, {a, b});
    expect_load_error(m.finish({x}, {a, b}), "more than one split size is -1");
  }
  {
    ModelBuilder m;
    const int x = m.tensor("x", {3, 2});
    const int a = m.tensor("a", {2}), b = m.tensor("b", {2});
    m.op(tfl::BuiltinOperator::UNPACK, {x}, {a, b}, tfl::BuiltinOptions::UnpackOptions,
         tfl::CreateUnpackOptions(m.fbb, 2, 0).Union());
    expect_load_error(m.finish({x}, {a, b}), "does not unpack into 2");
  }
  {
    ModelBuilder m;
    const int x = m.tensor("x", {2, 4});
    const int indices = m.tensor("indices", {2, 1}, nullptr, tfl::TensorType::INT32);
    const int y = m.tensor("y", {2, 1});
    m.op(tfl::BuiltinOperator::GATHER, {x, indices}, {y}, tfl::BuiltinOptions::GatherOptions,
         tfl::CreateGatherOptions(m.fbb, 1, /*batch_dims=*/1).Union());
    expect_load_error(m.finish({x, indices}, {y}), "GATHER with batch_dims 1 is not supported");
  }
}

// x → QUANTIZE (scale, zero point) → DEQUANTIZE → y.
std::vector<uint8_t> quantize_round_trip(float scale, int64_t zero_point, size_t zero_points = 1) {
  ModelBuilder m;
  const int x = m.tensor("x", {6});
  const int q = m.quantized("q", {6}, tfl::TensorType::INT8, {scale}, std::vector<int64_t>(zero_points, zero_point));
  const int y = m.tensor("y", {6});
  m.op(tfl::BuiltinOperator::QUANTIZE, {x}, {q});
  m.op(tfl::BuiltinOperator::DEQUANTIZE, {q}, {y});
  return m.finish({x}, {y});
}

TEST(TfliteImport, QuantizeThenDequantizeRoundsAndSaturates) {
  const std::vector<float> x = {-100.0f, -1.26f, 0.0f, 0.74f, 1.25f, 100.0f};
  for (bool optimize : {true, false}) {
    auto out = run_model(quantize_round_trip(0.5f, 3), {Tensor::from_vector<float>(Shape{6}, x).value()}, optimize);
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    // q = clamp(round_half_even(x / 0.5) + 3, -128, 127); y = 0.5 * (q - 3).
    const std::vector<float> expected = {-65.5f, -1.5f, 0.0f, 0.5f, 1.0f, 62.0f};
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ((*out)[0].data<float>()[i], expected[i]) << "x = " << x[i];
  }
}

TEST(TfliteImport, BadQuantizationParametersAreErrors) {
  expect_load_error(quantize_round_trip(0.0f, 0), "quantization scale 0 is not a positive number");
  expect_load_error(quantize_round_trip(-1.0f, 0), "is not a positive number");
  expect_load_error(quantize_round_trip(0.5f, 300), "zero point 300 is outside the range of i8");
  expect_load_error(quantize_round_trip(0.5f, 0, 2), "2 zero points for 1 scales");
}

}  // namespace
}  // namespace iskra
