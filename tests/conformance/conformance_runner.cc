// Runs the ONNX backend test cases (node, simple, pytorch-converted,
// pytorch-operator) and compares Iskra's outputs with the shipped ones.
//
// usage: iskra_conformance --data DIR [--filter REGEX] [--expected-failures FILE]
//                          [--ops-md FILE] [--verbose]
//
// With --expected-failures the run fails if a test fails that the file does not
// list, or if a listed test passes (so the list only shrinks). Each line of the
// file is "test_name  reason". With --ops-md it writes the op support table.
// --write-expected-failures FILE writes the current failures, each with the
// reason it failed, in that format (review the diff before committing it).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <onnx/onnx_pb.h>

#include "api/model_loader.h"
#include "import/onnx/onnx_tensor_file.h"
#include "runtime/session.h"

namespace fs = std::filesystem;
using namespace iskra;

namespace {

constexpr const char* kKinds[] = {"node", "simple", "pytorch-converted", "pytorch-operator"};

struct Tolerance {
  double rtol = 1e-3;
  double atol = 1e-5;
};

// Tests whose reference outputs need a looser bound, with the reason.
Tolerance tolerance_for(const std::string& test) {
  Tolerance t;
  // Sums of many f16 products: the reference computes in f32 and rounds once.
  if (test.find("fp16") != std::string::npos || test.find("float16") != std::string::npos) t.atol = 1e-3;
  // bfloat16 keeps 8 significant bits (relative step 2^-8 ≈ 0.004): a result
  // computed in float and rounded once may differ from the reference, which
  // rounds after every op, by a step or two.
  if (test.find("bf16") != std::string::npos || test.find("bfloat16") != std::string::npos) t.rtol = 1e-2;
  return t;
}

struct Outcome {
  bool passed = false;
  std::string detail;
};

// Compares two tensors; exact for integers/bool, rtol/atol for floats (NaN == NaN).
bool compare(const Tensor& got, const Tensor& want, const Tolerance& tol, std::string& why) {
  if (got.dtype() != want.dtype()) {
    why = str_cat("dtype ", dtype_name(got.dtype()), " != expected ", dtype_name(want.dtype()));
    return false;
  }
  if (got.shape() != want.shape()) {
    why = str_cat("shape ", shape_to_string(got.shape()), " != expected ", shape_to_string(want.shape()));
    return false;
  }
  const int64_t n = got.element_count();
  double worst = 0;
  int64_t worst_at = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double g = tensor_double_at(got, i), w = tensor_double_at(want, i);
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    const double diff = std::fabs(g - w);
    const bool ok = dtype_is_float(got.dtype()) ? diff <= tol.atol + tol.rtol * std::fabs(w) : g == w;
    if (!ok && (worst_at < 0 || diff > worst || std::isnan(diff))) {
      worst = diff;
      worst_at = i;
    }
  }
  if (worst_at >= 0) {
    why = str_cat("max |diff| ", worst, " at element ", worst_at, ": got ", tensor_double_at(got, worst_at),
                  ", expected ", tensor_double_at(want, worst_at));
    return false;
  }
  return true;
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) files.push_back(e.path());
  // input_10 must come after input_9: sort by the number after the prefix.
  std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
    auto num = [&](const fs::path& p) { return std::atoi(p.filename().string().c_str() + prefix.size()); };
    return num(a) < num(b);
  });
  return files;
}

Outcome run_case(const fs::path& dir, const std::string& name) {
  auto model = load_model_file((dir / "model.onnx").string());
  if (!model) return {false, "load: " + model.status().message()};
  auto session = Session::create(std::move(model).value());
  if (!session) return {false, "prepare: " + session.status().message()};
  Session& s = **session;
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return {false, "no test data sets"};
  for (const fs::path& set : sets) {
    std::vector<Tensor> inputs(s.inputs().size());
    std::vector<bool> bound(inputs.size(), false);
    size_t position = 0;
    for (const fs::path& file : sorted_files(set, "input_")) {
      std::string tensor_name;
      auto t = read_onnx_tensor_file(file.string(), &tensor_name);
      if (!t) return {false, "input: " + t.status().message()};
      size_t slot = position;
      for (size_t i = 0; i < s.inputs().size(); ++i)
        if (!tensor_name.empty() && s.inputs()[i].name == tensor_name) slot = i;
      if (slot >= inputs.size()) return {false, "more input files than model inputs"};
      inputs[slot] = std::move(t).value();
      bound[slot] = true;
      ++position;
    }
    for (size_t i = 0; i < bound.size(); ++i)
      if (!bound[i]) return {false, "no data for input '" + s.inputs()[i].name + "'"};
    std::vector<Tensor> outputs;
    Status st = s.run(inputs, outputs);
    if (!st) return {false, "run: " + st.message()};
    auto expected_files = sorted_files(set, "output_");
    if (expected_files.size() != outputs.size())
      return {false, str_cat(outputs.size(), " outputs, expected ", expected_files.size())};
    for (size_t o = 0; o < outputs.size(); ++o) {
      auto want = read_onnx_tensor_file(expected_files[o].string());
      if (!want) return {false, "expected output: " + want.status().message()};
      std::string why;
      if (!compare(outputs[o], *want, tolerance_for(name), why))
        return {false, str_cat(set.filename().string(), " output ", o, " ('", s.outputs()[o].name, "'): ", why)};
    }
  }
  return {true, ""};
}

std::map<std::string, std::string> read_expected_failures(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string name, reason;
    ls >> name;
    std::getline(ls, reason);
    reason.erase(0, reason.find_first_not_of(" \t"));
    if (!name.empty()) out[name] = reason;
  }
  return out;
}

// Per-op tallies for docs/ops.md, from the single-op node tests.
struct OpStats {
  int passed = 0, total = 0;
  std::set<int64_t> opsets_passed;
  std::set<std::string> dtypes_passed;
};

// Ops of a test model as the file names them (read from the protobuf, so
// ops Iskra cannot load are counted too), with subgraphs.
void collect_ops(const onnx::GraphProto& g, std::set<std::string>& ops) {
  for (const auto& n : g.node()) {
    const bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    ops.insert(default_domain ? n.op_type() : n.domain() + ":" + n.op_type());
    for (const auto& a : n.attribute())
      if (a.has_g()) collect_ops(a.g(), ops);
  }
}

void record_ops(const fs::path& dir, bool passed, std::map<std::string, OpStats>& stats) {
  std::ifstream file(dir / "model.onnx", std::ios::binary);
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&file)) return;
  int64_t opset = 0;
  for (const auto& imp : model.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx") opset = imp.version();
  std::set<std::string> ops;
  collect_ops(model.graph(), ops);
  for (const std::string& op : ops) {
    OpStats& st = stats[op];
    ++st.total;
    if (!passed) continue;
    ++st.passed;
    st.opsets_passed.insert(opset);
    for (const auto& input : model.graph().input())
      if (input.type().has_tensor_type())
        st.dtypes_passed.insert(dtype_name(static_cast<DType>(input.type().tensor_type().elem_type())));
  }
}

void write_ops_md(const std::string& path, const std::map<std::string, OpStats>& stats, int passed, int total,
                  const std::string& data_version) {
  std::ofstream out(path);
  out << "# Operator support\n\n"
      << "Generated by `iskra_conformance --ops-md` from the ONNX backend node tests (" << data_version
      << "); do not edit by hand.\n"
      << "A test counts for every op in its model; `expanded` tests exercise the ops a function decomposes into.\n\n"
      << "Node tests passing: **" << passed << " / " << total << "**.\n\n"
      << "| op | tests passed | opsets seen passing | input dtypes seen passing |\n|---|---|---|---|\n";
  for (const auto& [op, st] : stats) {
    std::string opsets, dtypes;
    for (int64_t v : st.opsets_passed) opsets += (opsets.empty() ? "" : ", ") + std::to_string(v);
    for (const auto& d : st.dtypes_passed) dtypes += (dtypes.empty() ? "" : ", ") + d;
    out << "| " << op << " | " << st.passed << " / " << st.total << " | " << opsets << " | " << dtypes << " |\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, filter, expected_path, ops_md, write_expected;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data") data = next();
    else if (a == "--filter") filter = next();
    else if (a == "--expected-failures") expected_path = next();
    else if (a == "--ops-md") ops_md = next();
    else if (a == "--write-expected-failures") write_expected = next();
    else if (a == "--verbose" || a == "-v") verbose = true;
    else {
      std::cerr << "usage: iskra_conformance --data DIR [--filter REGEX] [--expected-failures FILE] "
                   "[--ops-md FILE] [--write-expected-failures FILE] [--verbose]\n";
      return 2;
    }
  }
  if (data.empty() || !fs::is_directory(data)) {
    std::cerr << "iskra_conformance: --data must name the ONNX backend test data folder (scripts/setup makes it)\n";
    return 2;
  }
  const std::regex pattern(filter.empty() ? ".*" : filter);
  const auto expected = expected_path.empty() ? std::map<std::string, std::string>{}
                                              : read_expected_failures(expected_path);
  int passed = 0, failed = 0, unexpected = 0, node_passed = 0, node_total = 0;
  std::map<std::string, OpStats> op_stats;
  std::set<std::string> seen;
  std::vector<std::pair<std::string, std::string>> failures;  // name, reason
  for (const char* kind : kKinds) {
    const fs::path root = fs::path(data) / kind;
    if (!fs::is_directory(root)) continue;
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory()) cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    for (const fs::path& dir : cases) {
      const std::string name = dir.filename().string();
      if (!std::regex_search(name, pattern)) continue;
      seen.insert(name);
      Outcome r = run_case(dir, name);
      const bool listed = expected.count(name) != 0;
      (r.passed ? passed : failed)++;
      if (!r.passed) failures.emplace_back(name, r.detail);
      if (std::string(kind) == "node") {
        ++node_total;
        node_passed += r.passed;
        if (!ops_md.empty()) record_ops(dir, r.passed, op_stats);
      }
      if (!r.passed && !listed) {
        ++unexpected;
        std::cout << "FAIL " << kind << "/" << name << ": " << r.detail << "\n";
      } else if (r.passed && listed && !expected_path.empty()) {
        ++unexpected;
        std::cout << "UNEXPECTED PASS " << kind << "/" << name << " (remove it from " << expected_path << ")\n";
      } else if (verbose) {
        std::cout << (r.passed ? "ok   " : "xfail ") << kind << "/" << name << (r.passed ? "" : ": " + r.detail)
                  << "\n";
      }
    }
  }
  if (!write_expected.empty()) {
    std::ofstream out(write_expected);
    out << "# ONNX backend tests expected to fail, with the reason each fails.\n"
        << "# Made by: iskra_conformance --data .cache/onnx_backend --write-expected-failures <this file>\n"
        << "# The conformance test fails on an unlisted failure or a listed pass: this list only shrinks.\n";
    for (auto& [name, reason] : failures) {
      std::string r = reason;
      // Drop the path prefix of load errors: keep the message.
      const size_t model_pos = r.find("model.onnx: ");
      if (model_pos != std::string::npos) r = "load: " + r.substr(model_pos + 12);
      std::replace(r.begin(), r.end(), '\n', ' ');
      out << name << "  " << r << "\n";
    }
  }
  if (!ops_md.empty()) {
    std::string version;
    std::ifstream vf(fs::path(data) / "VERSION");
    std::getline(vf, version);
    write_ops_md(ops_md, op_stats, node_passed, node_total, version);
  }
  std::cout << "node tests: " << node_passed << " / " << node_total << " pass\n";
  std::cout << "conformance: " << passed << " pass, " << failed << " fail";
  if (!expected_path.empty()) std::cout << ", " << unexpected << " not as expected";
  std::cout << "\n";
  if (!expected_path.empty()) return unexpected == 0 ? 0 : 1;
  return 0;
}
