// iskra run MODEL [--input NAME=FILE]... [--output-dir DIR] [--threads N] [--reference] [--no-optimize]
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

#include "commands.h"
#include "session_setup.h"
#include "tensor_files.h"

namespace iskra::cli {

namespace {

struct RunOptions {
  std::string model_path;
  std::vector<std::string> inputs;  // NAME=FILE
  std::string output_dir;
  SessionOptions session;
};

std::string format_number(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
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
  auto given = parse_input_files(options.inputs);
  if (!given.is_ok()) return report_error(given.status().message(), kExitUsageError);
  auto loaded = load_session(options.model_path, options.session);
  if (!loaded.is_ok()) return report_error(loaded.status());
  Session& session = *loaded->session;
  auto inputs = make_inputs(session, *given);
  if (!inputs.is_ok()) return report_error(inputs.status());

  std::vector<Tensor> outputs;
  const long long run_start = now_ns();
  Status status = session.run(*inputs, outputs);
  const double run_ms = elapsed_ms(run_start);
  if (!status.is_ok()) return report_error(status);

  std::cout << "model: " << options.model_path << " (" << loaded->format << ")\n";
  std::cout << "load: " << format_fixed(loaded->load_ms, 3) << " ms\n";
  std::cout << "run: " << format_fixed(run_ms, 3) << " ms\n";
  const std::vector<IoInfo>& out_infos = session.outputs();
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
      "  iskra run model.onnx --input image=image.npy --output-dir out/\n"
      "  iskra run model.onnx --reference --output-dir ref/   (the scalar kernels: diff out/ against ref/)");
  cmd->add_option("MODEL", options->model_path, "Model file (.onnx or .tflite; the format is read from the content)")->required();
  add_input_option(*cmd, options->inputs);
  cmd->add_option("--output-dir,-o", options->output_dir, "Write each output to DIR/<name>.npy")
      ->type_name("DIR");
  add_session_flags(*cmd, options->session);
  cmd->callback([options, &action] { action = [options] { return run_command(*options); }; });
}

}  // namespace iskra::cli
