#include "base/status.h"

#include <gtest/gtest.h>

namespace iskra {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return invalid_argument("value ", v, " is not positive");
  return v;
}

Status use_parse(int v, int* out) {
  ISKRA_ASSIGN_OR_RETURN(*out, parse_positive(v));
  return Status::ok();
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status s = invalid_model("node '", "conv1", "' is bad");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_EQ(s.message(), "node 'conv1' is bad");
  EXPECT_EQ(s.with_context("file.onnx: ").message(), "file.onnx: node 'conv1' is bad");
}

TEST(Status, AssignOrReturnPropagates) {
  int out = 0;
  EXPECT_TRUE(use_parse(3, &out).is_ok());
  EXPECT_EQ(out, 3);
  Status s = use_parse(-1, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "value -1 is not positive");
}

}  // namespace
}  // namespace iskra
