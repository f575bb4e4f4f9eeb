#include "session_setup.h"

#include <set>
#include <utility>

#include "api/model_loader.h"
#include "commands.h"
#include "tensor_files.h"

namespace iskra::cli {

namespace {

constexpr uint64_t kRandomSeed = 20240601;

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

}  // namespace

void add_session_flags(CLI::App& cmd, SessionOptions& options) {
  cmd.add_option("--threads,-t", options.threads, "Number of threads (the caller's included)")
      ->check(CLI::Range(1, 1024))
      ->type_name("N");
  cmd.add_option_function<size_t>(
         "--memory-limit", [&options](size_t mib) { options.memory_limit_bytes = mib << 20; },
         "Most MiB of tensors the session may hold (constants, arena, run-time buffers); a load or run "
         "that needs more fails naming the node")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30))
      ->type_name("MIB");
  cmd.add_flag("--reference", options.reference_kernels,
               "Only the scalar reference kernels, no graph passes (the oracle to diff against)");
  cmd.add_flag_callback("--no-optimize", [&options] { options.optimize = false; }, "Skip the graph passes");
  cmd.add_flag_callback("--nchw", [&options] { options.channels_last = false; },
                        "Keep the model's NCHW layout (no channels-last pass)");
}

void add_input_option(CLI::App& cmd, std::vector<std::string>& specs) {
  cmd.add_option("--input,-i", specs, "Input from a file, as NAME=FILE (repeatable)")
      ->type_name("NAME=FILE")
      ->allow_extra_args(false);
}

Result<std::vector<InputFile>> parse_input_files(const std::vector<std::string>& specs) {
  std::vector<InputFile> files;
  std::set<std::string> seen;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      return invalid_argument("--input '", spec, "' is not NAME=FILE");
    std::string name = spec.substr(0, eq);
    if (!seen.insert(name).second) return invalid_argument("--input '", name, "' is given twice");
    files.push_back(InputFile{std::move(name), spec.substr(eq + 1)});
  }
  return files;
}

Result<LoadedSession> load_session(const std::string& model_path, const SessionOptions& options) {
  const long long start = now_ns();
  ISKRA_ASSIGN_OR_RETURN(Model model, load_model_file(model_path));
  LoadedSession loaded;
  loaded.import_ms = elapsed_ms(start);
  loaded.format = model.info.format;
  auto session = Session::create(std::move(model), options);
  if (!session.is_ok()) return session.status().with_context(model_path + ": ");
  loaded.session = std::move(session).value();
  loaded.load_ms = elapsed_ms(start);
  return loaded;
}

Result<std::vector<Tensor>> make_inputs(const Session& session, const std::vector<InputFile>& given) {
  const std::vector<IoInfo>& infos = session.inputs();
  std::vector<Tensor> inputs(infos.size());
  std::vector<bool> have(infos.size(), false);
  for (const InputFile& file : given) {
    size_t slot = 0;
    while (slot < infos.size() && infos[slot].name != file.name) ++slot;
    if (slot == infos.size())
      return invalid_argument("the model has no input named '", file.name, "' (its inputs: ", describe_inputs(infos),
                              ")");
    ISKRA_ASSIGN_OR_RETURN(Tensor tensor, read_tensor_file(file.path));
    ISKRA_RETURN_IF_ERROR(check_input(infos[slot], tensor, file.path));
    inputs[slot] = std::move(tensor);
    have[slot] = true;
  }
  for (size_t i = 0; i < infos.size(); ++i) {
    if (have[i]) continue;
    if (!given.empty()) print_note("input '" + infos[i].name + "' not given: using random values");
    ISKRA_ASSIGN_OR_RETURN(inputs[i], make_random_input(infos[i], i));
  }
  return inputs;
}

}  // namespace iskra::cli
