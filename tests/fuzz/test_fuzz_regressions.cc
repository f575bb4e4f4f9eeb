// Replays the minimized inputs of past fuzzer findings (regressions/<target>/<file>)
// through the fuzz target they were found with. Each once crashed, leaked or
// tripped a sanitizer; now each must be rejected with a message, or accepted
// when its file name starts with "ok-" (the finding was a crash on a valid
// input). Under scripts/test-sanitizers the replay also catches a return of
// the undefined behaviour or leak itself.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_targets.h"

namespace fs = std::filesystem;

namespace {

struct Regression {
  std::string target;
  fs::path file;
};

std::vector<Regression> regressions() {
  std::vector<Regression> out;
  for (const auto& dir : fs::directory_iterator(ISKRA_FUZZ_REGRESSIONS_DIR))
    if (dir.is_directory())
      for (const auto& file : fs::directory_iterator(dir.path()))
        if (file.is_regular_file() && file.path().filename() != "README.md")
          out.push_back({dir.path().filename().string(), file.path()});
  return out;
}

void PrintTo(const Regression& r, std::ostream* os) { *os << r.target << "/" << r.file.filename().string(); }

class FuzzRegressions : public testing::TestWithParam<Regression> {};

TEST_P(FuzzRegressions, ReplaysWithoutCrash) {
  const Regression& r = GetParam();
  const iskra::fuzz::Target target = iskra::fuzz::find_target(r.target);
  ASSERT_NE(target, nullptr) << "no fuzz target named " << r.target;
  std::ifstream in(r.file, std::ios::binary);
  ASSERT_TRUE(in) << r.file;
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string error;
  const bool accepted = target(bytes.data(), bytes.size(), &error);
  if (r.file.filename().string().starts_with("ok-")) {
    EXPECT_TRUE(accepted) << error;
  } else {
    EXPECT_FALSE(accepted) << r.file << " was accepted";
    EXPECT_FALSE(error.empty()) << r.file << " was rejected without a message";
  }
}

std::string test_name(const testing::TestParamInfo<Regression>& info) {
  std::string name = info.param.target + "_" + info.param.file.filename().string();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

TEST(FuzzRegressionFiles, EveryDirectoryNamesATarget) {
  for (const auto& dir : fs::directory_iterator(ISKRA_FUZZ_REGRESSIONS_DIR))
    if (dir.is_directory()) {
      EXPECT_NE(iskra::fuzz::find_target(dir.path().filename().string()), nullptr) << dir;
    }
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Findings, FuzzRegressions, testing::ValuesIn(regressions()), test_name);
