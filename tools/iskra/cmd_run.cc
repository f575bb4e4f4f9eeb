// iskra run MODEL [--input NAME=FILE]... [--output-dir DIR] [--threads N]
//
// Runs a model once on inputs from files (.npy or ONNX TensorProto .pb) or,
// for inputs not given, on deterministic random values; prints a summary of
// each output and, with --output-dir, writes each output to DIR/<name>.npy.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/model_loader.h"
#include "commands.h"
#include "runtime/session.h"
#include "tensor_files.h"

namespace iskra::cli {

namespace {

constexpr uint64_t kRandomSeed = 20240601;

struct RunOptions {
  std::string model_path;
  std::vector<std::string> inputs;  // NAME=FILE
  std::string output_dir;
  int threads = 1;
};

std::string format_number(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}

std::string format_ms(double ms) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3f", ms);
  return buffer;
}

// numpy's name of the dtypes npy_dtype_for converts to.
const char* numpy_type_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "float32";
    case DType::kI8: return "int8";
    case DType::kU8: return "uint8";
    default: return dtype_name(dtype);
  }
}

std::string describe_inputs(const std::vector<IoInfo>& infos) {
  std::string known;
  for (const IoInfo& info : infos) known += (known.empty() ? "'" : ", '") + info.name + "'";
  return known.empty() ? "none" : known;
}

// Checks a tensor read from `path` against the model input it feeds.
Status check_input(const IoInfo& info, const Tensor& t, const std::string& path) {
  if (info.dtype != DType::kUndefined && t.dtype() != info.dtype)
    return invalid_argument("input '", info.name, "' must be ", dtype_name(info.dtype), ", but ", path, " holds ",
                            dtype_name(t.dtype()));
  if (!info.has_shape) return Status::ok();
  bool ok = info.shape.size() == t.shape().size();
  for (size_t d = 0; ok && d < info.shape.size(); ++d)
    ok = !info.shape[d].is_known() || info.shape[d].size == t.shape()[d];
  if (!ok)
    return invalid_argument("input '", info.name, "' must have shape ", symbolic_shape_to_string(info.shape), ", but ",
                            path, " has shape ", shape_to_string(t.shape()));
  return Status::ok();
}

// Random values for an input that was not given; unknown dims become 1.
Result<Tensor> make_random_input(const IoInfo& info, size_t index) {
  if (!info.has_shape)
    return invalid_argument("input '", info.name, "' has an unknown rank; give it with --input ", info.name, "=FILE");
  if (!dtype_is_supported(info.dtype) || info.dtype == DType::kString)
    return unsupported("input '", info.name, "' has dtype ", dtype_name(info.dtype),
                       "; cannot make random values for it");
  Shape shape;
  for (size_t d = 0; d < info.shape.size(); ++d) {
    const Dim& dim = info.shape[d];
    if (dim.is_known()) {
      shape.push_back(dim.size);
      continue;
    }
    print_note("input '" + info.name + "': dim " + std::to_string(d) +
               (dim.symbol.empty() ? std::string(" (unknown)") : " ('" + dim.symbol + "')") + " set to 1");
    shape.push_back(1);
  }
  return random_tensor(info.dtype, shape, kRandomSeed + index);
}

void print_summary(const IoInfo& info, const Tensor& t) {
  std::cout << "output '" << info.name << "': " << t.describe();
  if (t.element_count() == 0) {
    std::cout << " (empty)\n";
    return;
  }
  const TensorStats s = tensor_stats(t);
  if (s.nan_count < s.count)
    std::cout << " min " << format_number(s.min) << " max " << format_number(s.max) << " mean "
              << format_number(s.mean);
  if (s.nan_count) std::cout << " nan " << s.nan_count;
  std::cout << "\n";
}

int run_command(const RunOptions& options) {
  // Parse NAME=FILE pairs first: malformed ones are usage errors.
  std::vector<std::pair<std::string, std::string>> given;
  std::set<std::string> seen;
  for (const std::string& spec : options.inputs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      return report_error("--input '" + spec + "' is not NAME=FILE", kExitUsageError);
    std::string name = spec.substr(0, eq);
    if (!seen.insert(name).second) return report_error("--input '" + name + "' is given twice", kExitUsageError);
    given.emplace_back(std::move(name), spec.substr(eq + 1));
  }

  const long long load_start = now_ns();
  auto model = load_model_file(options.model_path);
  if (!model.is_ok()) return report_error(model.status());
  const std::string format = model->info.format;
  SessionOptions session_options;
  session_options.threads = options.threads;
  auto session_or = Session::create(std::move(model).value(), session_options);
  if (!session_or.is_ok()) return report_error(session_or.status().with_context(options.model_path + ": "));
  std::unique_ptr<Session> session = std::move(session_or).value();
  const double load_ms = elapsed_ms(load_start);

  const std::vector<IoInfo>& infos = session->inputs();
  std::vector<Tensor> inputs(infos.size());
  std::vector<bool> have(infos.size(), false);
  for (const auto& [name, path] : given) {
    size_t slot = 0;
    while (slot < infos.size() && infos[slot].name != name) ++slot;
    if (slot == infos.size())
      return report_error("the model has no input named '" + name + "' (its inputs: " + describe_inputs(infos) + ")");
    auto tensor = read_tensor_file(path);
    if (!tensor.is_ok()) return report_error(tensor.status());
    if (Status s = check_input(infos[slot], *tensor, path); !s.is_ok()) return report_error(s);
    inputs[slot] = std::move(tensor).value();
    have[slot] = true;
  }
  for (size_t i = 0; i < infos.size(); ++i) {
    if (have[i]) continue;
    if (!given.empty()) print_note("input '" + infos[i].name + "' not given: using random values");
    auto tensor = make_random_input(infos[i], i);
    if (!tensor.is_ok()) return report_error(tensor.status());
    inputs[i] = std::move(tensor).value();
  }

  std::vector<Tensor> outputs;
  const long long run_start = now_ns();
  Status status = session->run(inputs, outputs);
  const double run_ms = elapsed_ms(run_start);
  if (!status.is_ok()) return report_error(status);

  std::cout << "model: " << options.model_path << " (" << format << ")\n";
  std::cout << "load: " << format_ms(load_ms) << " ms\n";
  std::cout << "run: " << format_ms(run_ms) << " ms\n";
  const std::vector<IoInfo>& out_infos = session->outputs();
  for (size_t i = 0; i < outputs.size() && i < out_infos.size(); ++i) print_summary(out_infos[i], outputs[i]);

  if (options.output_dir.empty()) return kExitOk;
  std::error_code ec;
  std::filesystem::create_directories(options.output_dir, ec);
  if (ec) return report_error(options.output_dir + ": cannot create directory: " + ec.message());
  std::set<std::string> used;
  for (size_t i = 0; i < outputs.size() && i < out_infos.size(); ++i) {
    std::string stem = sanitize_file_name(out_infos[i].name);
    if (stem.empty() || stem == "." || stem == "..") stem = "output_" + std::to_string(i);
    // Different names can sanitize alike ("a/b", "a:b"): keep every file.
    if (!used.insert(stem).second) {
      stem += "_" + std::to_string(i);
      used.insert(stem);
    }
    const std::string path = (std::filesystem::path(options.output_dir) / (stem + ".npy")).string();
    bool converted = false;
    if (Status s = write_tensor_npy(path, outputs[i], &converted); !s.is_ok()) return report_error(s);
    if (converted)  // numpy lacks the type (bf16, float8, int4, ...): see npy_dtype_for
      print_note("output '" + out_infos[i].name + "' is " + dtype_name(outputs[i].dtype()) + "; wrote it to " + path +
                 " as " + numpy_type_name(npy_dtype_for(outputs[i].dtype())));
    std::cout << "wrote " << path << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model once and summarize its outputs.");
  cmd->footer(
      "FILE is a .npy or an ONNX TensorProto (.pb). Inputs not given get deterministic random values\n"
      "(floats in [-1,1], integers in [0,10), bools); unknown or symbolic dims are set to 1.\n"
      "\n"
      "Examples:\n"
      "  iskra run model.onnx\n"
      "  iskra run model.onnx --input image=image.npy --output-dir out/");
  cmd->add_option("MODEL", options->model_path, "Model file (.onnx)")->required();
  cmd->add_option("--input,-i", options->inputs, "Input from a file, as NAME=FILE (repeatable)")
      ->type_name("NAME=FILE")
      ->allow_extra_args(false);
  cmd->add_option("--output-dir,-o", options->output_dir, "Write each output to DIR/<name>.npy")
      ->type_name("DIR");
  cmd->add_option("--threads,-t", options->threads, "Number of threads")
      ->check(CLI::Range(1, 1024))
      ->type_name("N");
  cmd->callback([options, &action] { action = [options] { return run_command(*options); }; });
}

}  // namespace iskra::cli
