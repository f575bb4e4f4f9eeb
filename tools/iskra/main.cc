// iskra: the command-line tool. Each command lives in its own cmd_*.cc file.
//
// Errors are one line on stderr, "iskra: error: <message>", with exit code 2
// for usage errors (the command line does not parse) and 1 for everything
// else (unreadable files, invalid models, failed runs).
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

#include "commands.h"

namespace iskra::cli {

namespace {
std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}
}  // namespace

int report_error(const std::string& message, int exit_code) {
  std::cerr << "iskra: error: " << one_line(message) << std::endl;
  return exit_code;
}

int report_error(const Status& status) { return report_error(status.message(), kExitRuntimeError); }

void print_note(const std::string& message) { std::cerr << "iskra: note: " << one_line(message) << std::endl; }

std::string format_fixed(double v, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, v);
  return buffer;
}

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double elapsed_ms(long long start_ns) { return static_cast<double>(now_ns() - start_ns) / 1e6; }

}  // namespace iskra::cli

int main(int argc, char** argv) {
  using namespace iskra::cli;
  CLI::App app("Iskra: load and run ML models (ONNX, ...) on the CPU.", "iskra");
  app.require_subcommand(1);
  Action action;
  add_run_command(app, action);
  add_inspect_command(app, action);
  add_bench_command(app, action);

  if (argc >= 2 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known = known || sub->check_name(argv[1]);
    if (!known) return report_error(std::string("unknown command '") + argv[1] + "' (see 'iskra --help')", kExitUsageError);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const auto parsed = app.get_subcommands();
    const std::string help = parsed.empty() ? "iskra --help" : "iskra " + parsed.front()->get_name() + " --help";
    return report_error(std::string(e.what()) + " (see '" + help + "')", kExitUsageError);
  }
  if (!action) return report_error("no command given (see 'iskra --help')", kExitUsageError);
  try {
    return action();
  } catch (const std::bad_alloc&) {
    return report_error("out of memory");
  } catch (const std::exception& e) {
    return report_error(std::string("internal error: ") + e.what());
  }
}
