// iskra bench MODEL [--threads N] [--runs R] [--warmup W] [--input NAME=FILE]...
//                   [--json] [--profile] [--reference] [--no-optimize]
//
// Measures a model: load time (file open to Session ready), the first run
// (which plans: shapes, arena, weight packing), then R timed runs after W
// warmup runs; peak RSS, arena size and how many nodes run fast kernels.
// With --profile, per-op and per-node times of the R runs.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "profile_report.h"
#include "session_setup.h"

namespace iskra::cli {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

struct BenchOptions {
  std::string model_path;
  std::vector<std::string> inputs;  // NAME=FILE
  SessionOptions session;
  int runs = 20;
  int warmup = 3;
  bool json = false;
  bool profile = false;
};

struct LatencyStats {
  double min = 0, median = 0, p90 = 0, p99 = 0, mean = 0, max = 0;
};

// Percentile `p` in [0, 1] of sorted values, interpolating linearly between
// the closest ranks (numpy's default).
double percentile(const std::vector<double>& sorted, double p) {
  const double pos = p * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

LatencyStats summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  LatencyStats s;
  s.min = ms.front();
  s.max = ms.back();
  s.median = percentile(ms, 0.5);
  s.p90 = percentile(ms, 0.9);
  s.p99 = percentile(ms, 0.99);
  s.mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  return s;
}

// Peak resident set size of this process so far, in MiB (Linux: ru_maxrss in KiB).
double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
#ifdef __APPLE__
  return static_cast<double>(usage.ru_maxrss) / kMiB;  // bytes on macOS
#else
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
#endif
}

// "run 12/50" on stderr, rewritten in place; only when stderr is a terminal,
// once the benchmark has taken more than 2 s, at most 10 times a second.
class Progress {
 public:
  Progress() : enabled_(isatty(STDERR_FILENO) != 0), start_ns_(now_ns()) {}
  ~Progress() {
    if (shown_) std::fprintf(stderr, "\r%20s\r", "");
  }
  void show(const char* phase, int done, int total) {
    if (!enabled_ || elapsed_ms(start_ns_) < 2000 || (shown_ && elapsed_ms(last_ns_) < 100)) return;
    std::fprintf(stderr, "\r%s %d/%d   ", phase, done, total);
    std::fflush(stderr);
    shown_ = true;
    last_ns_ = now_ns();
  }

 private:
  bool enabled_;
  bool shown_ = false;
  long long start_ns_;
  long long last_ns_ = 0;
};

struct BenchResult {
  std::string format;
  double load_ms = 0;
  double import_ms = 0, passes_ms = 0, plan_ms = 0;  // parts of load_ms
  double first_run_ms = 0;
  LatencyStats latency;
  double peak_rss_mb = 0;
  double arena_mb = 0;
  size_t nodes = 0, fast_nodes = 0, dynamic_nodes = 0;
  std::vector<std::string> input_names;
  std::vector<Tensor> inputs;
  std::optional<Profile> profile;
};

// Runs a session on the same inputs again and again. The outputs are passed
// back to every run, as an application would (the session may reuse them).
struct Runner {
  Session& session;
  const std::vector<Tensor>& inputs;
  std::vector<Tensor> outputs;
  Progress progress;

  // Runs `count` times, timing each run into `ms` if given.
  Status repeat(int count, const char* phase, std::vector<double>* ms) {
    for (int i = 0; i < count; ++i) {
      progress.show(phase, i, count);
      const long long start = now_ns();
      ISKRA_RETURN_IF_ERROR(session.run(inputs, outputs));
      if (ms) ms->push_back(elapsed_ms(start));
    }
    return Status::ok();
  }
};

Result<BenchResult> bench(const BenchOptions& options, const std::vector<InputFile>& given) {
  BenchResult r;
  ISKRA_ASSIGN_OR_RETURN(LoadedSession loaded, load_session(options.model_path, options.session));
  Session& session = *loaded.session;
  r.format = loaded.format;
  r.load_ms = loaded.load_ms;
  r.import_ms = loaded.import_ms;
  r.passes_ms = session.timings().passes_ms;
  r.plan_ms = session.timings().plan_ms;
  ISKRA_ASSIGN_OR_RETURN(r.inputs, make_inputs(session, given));
  for (const IoInfo& info : session.inputs()) r.input_names.push_back(info.name);

  Runner runner{session, r.inputs, {}, {}};
  std::vector<double> first;
  ISKRA_RETURN_IF_ERROR(runner.repeat(1, "first run", &first));
  r.first_run_ms = first.front();
  ISKRA_RETURN_IF_ERROR(runner.repeat(options.warmup, "warmup", nullptr));
  if (options.profile) session.set_profiling(true);
  std::vector<double> ms;
  ISKRA_RETURN_IF_ERROR(runner.repeat(options.runs, "run", &ms));
  r.latency = summarize(std::move(ms));
  if (options.profile) r.profile = collect_profile(session, options.runs);

  r.peak_rss_mb = peak_rss_mib();
  r.arena_mb = static_cast<double>(session.arena_bytes()) / kMiB;
  r.nodes = session.graph().nodes.size();
  r.fast_nodes = session.fast_node_count();
  r.dynamic_nodes = session.dynamic_node_count();
  return r;
}

std::string kernels_text(const SessionOptions& s) {
  if (s.reference_kernels) return "reference only";
  return s.optimize ? "fast where prepared, graph passes on" : "fast where prepared, graph passes off";
}

void print_text(const BenchOptions& options, const BenchResult& r) {
  const LatencyStats& l = r.latency;
  std::cout << "model:      " << options.model_path << " (" << r.format << ")\n";
  std::cout << "inputs:    ";
  for (size_t i = 0; i < r.inputs.size(); ++i) std::cout << " " << r.input_names[i] << " " << r.inputs[i].describe();
  std::cout << "\n";
  std::cout << "threads:    " << options.session.threads << "; kernels: " << kernels_text(options.session) << "\n";
  std::cout << "nodes:      " << r.nodes << " (" << r.fast_nodes << " fast, " << r.dynamic_nodes << " dynamic)\n";
  std::cout << "load:       " << format_fixed(r.load_ms, 2) << " ms (import " << format_fixed(r.import_ms, 1)
            << ", passes " << format_fixed(r.passes_ms, 1) << ", plan " << format_fixed(r.plan_ms, 1) << ")\n";
  std::cout << "first run:  " << format_fixed(r.first_run_ms, 2) << " ms\n";
  std::cout << "latency:    " << options.runs << " runs after " << options.warmup << " warmup (ms)\n";
  std::cout << "            min " << format_fixed(l.min, 3) << "  median " << format_fixed(l.median, 3) << "  p90 "
            << format_fixed(l.p90, 3) << "  p99 " << format_fixed(l.p99, 3) << "  mean " << format_fixed(l.mean, 3)
            << "\n";
  std::cout << "peak RSS:   " << format_fixed(r.peak_rss_mb, 1) << " MiB\n";
  std::cout << "arena:      " << format_fixed(r.arena_mb, 2) << " MiB\n";
  if (r.profile) print_profile(*r.profile, std::cout);
}

void print_json(const BenchOptions& options, const BenchResult& r) {
  const LatencyStats& l = r.latency;
  nlohmann::ordered_json j;
  j["model"] = options.model_path;
  j["format"] = r.format;
  auto inputs = nlohmann::ordered_json::array();
  for (size_t i = 0; i < r.inputs.size(); ++i)
    inputs.push_back(
        {{"name", r.input_names[i]}, {"dtype", dtype_name(r.inputs[i].dtype())}, {"shape", r.inputs[i].shape()}});
  j["inputs"] = std::move(inputs);
  j["threads"] = options.session.threads;
  j["optimize"] = options.session.optimize && !options.session.reference_kernels;
  j["reference"] = options.session.reference_kernels;
  j["runs"] = options.runs;
  j["warmup"] = options.warmup;
  j["load_ms"] = r.load_ms;
  j["load_parts_ms"] = {{"import", r.import_ms}, {"passes", r.passes_ms}, {"plan", r.plan_ms}};
  j["first_run_ms"] = r.first_run_ms;
  j["latency_ms"] = {{"min", l.min}, {"median", l.median}, {"p90", l.p90},
                     {"p99", l.p99}, {"mean", l.mean},     {"max", l.max}};
  j["peak_rss_mb"] = r.peak_rss_mb;
  j["arena_mb"] = r.arena_mb;
  j["nodes"] = r.nodes;
  j["fast_nodes"] = r.fast_nodes;
  j["dynamic_nodes"] = r.dynamic_nodes;
  if (r.profile) {
    j["profile_ops"] = profile_ops_json(*r.profile);
    j["profile"] = profile_nodes_json(*r.profile);
  }
  // Names in models are arbitrary bytes: replace invalid UTF-8 instead of throwing.
  std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
}

int bench_command(const BenchOptions& options) {
  auto given = parse_input_files(options.inputs);
  if (!given.is_ok()) return report_error(given.status().message(), kExitUsageError);
  auto result = bench(options, *given);
  if (!result.is_ok()) return report_error(result.status());
  if (options.json)
    print_json(options, *result);
  else
    print_text(options, *result);
  return kExitOk;
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure a model's load time, latency and memory.");
  cmd->footer(
      "Times: load = file open to session ready; the first run also plans (shapes, arena, weight packing);\n"
      "latency = each of the R runs after W warmup runs. Peak RSS is the process's (getrusage).\n"
      "--profile times every node during the R runs (percentages are of the time in nodes; GFLOP/s\n"
      "counts 2 FLOPs per multiply-add of Conv, ConvTranspose, MatMul and Gemm).\n"
      "Inputs not given get deterministic random values; unknown or symbolic dims are set to 1.\n"
      "\n"
      "Examples:\n"
      "  iskra bench model.onnx --threads 2 --runs 50\n"
      "  iskra bench model.onnx --input x=x.npy --profile\n"
      "  iskra bench model.onnx --json > result.json");
  cmd->add_option("MODEL", options->model_path, "Model file (.onnx or .tflite; the format is read from the content)")->required();
  add_input_option(*cmd, options->inputs);
  add_session_flags(*cmd, options->session);
  cmd->add_option("--runs,-r", options->runs, "Timed runs (default 20)")
      ->check(CLI::Range(1, 10000000))
      ->type_name("R");
  cmd->add_option("--warmup,-w", options->warmup, "Untimed runs before them, after the first run (default 3)")
      ->check(CLI::Range(0, 10000000))
      ->type_name("W");
  cmd->add_flag("--json", options->json, "Print one JSON object instead of text");
  cmd->add_flag("--profile", options->profile, "Time every node: per-op and per-node tables");
  cmd->callback([options, &action] { action = [options] { return bench_command(*options); }; });
}

}  // namespace iskra::cli
