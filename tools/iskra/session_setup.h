// What the commands that run a model (`run`, `bench`) share: the session
// options and --input on the command line, loading a model into a Session,
// and the inputs of a run (from files, or deterministic random values).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "ir/tensor.h"
#include "runtime/session.h"

namespace iskra::cli {

// Adds --threads, --reference and --no-optimize to `cmd`, stored in `options`.
void add_session_flags(CLI::App& cmd, SessionOptions& options);
// Adds the repeatable --input NAME=FILE option to `cmd`, stored in `specs`.
void add_input_option(CLI::App& cmd, std::vector<std::string>& specs);

struct InputFile {
  std::string name;
  std::string path;
};

// Splits NAME=FILE arguments; fails on a malformed or repeated one (a usage
// error: report it with kExitUsageError).
Result<std::vector<InputFile>> parse_input_files(const std::vector<std::string>& specs);

struct LoadedSession {
  std::unique_ptr<Session> session;
  std::string format;    // of the model file, e.g. "onnx"
  double load_ms = 0;    // file open to Session ready
  double import_ms = 0;  // of which: reading and importing the file (the rest: Session::timings())
};
Result<LoadedSession> load_session(const std::string& model_path, const SessionOptions& options);

// The session's inputs in order: the given ones read from their files and
// checked against the declared dtypes and shapes; the others deterministic
// random values (unknown dims set to 1, with a note on stderr).
Result<std::vector<Tensor>> make_inputs(const Session& session, const std::vector<InputFile>& given);

}  // namespace iskra::cli
