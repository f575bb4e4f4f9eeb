// The `iskra` commands: one file per command, registered by main.cc.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "base/status.h"

namespace iskra::cli {

// Exit codes: 0 success, 1 runtime error, 2 usage error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsageError = 2;

// What main runs after parsing: the chosen command's action.
using Action = std::function<int()>;

// Each registers a subcommand of `app`; when it is chosen, parsing stores its
// action in `action`.
void add_run_command(CLI::App& app, Action& action);
void add_inspect_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);

// Print "iskra: error: <message>" (one line) on stderr; return the exit code.
int report_error(const std::string& message, int exit_code = kExitRuntimeError);
int report_error(const Status& status);
// Print "iskra: note: <message>" on stderr.
void print_note(const std::string& message);

// `v` with `digits` digits after the point ("%.*f").
std::string format_fixed(double v, int digits);

// Milliseconds elapsed since `start`, a steady_clock time point in ns.
double elapsed_ms(long long start_ns);
long long now_ns();

}  // namespace iskra::cli
