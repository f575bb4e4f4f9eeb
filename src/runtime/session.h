// Session: a loaded model ready to run. load → verify → plan → run; the plan
// is remade whenever input shapes change.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/model.h"
#include "runtime/executor.h"

namespace iskra {

struct SessionOptions {
  int threads = 1;  // reference kernels are single-threaded; kept for the API
};

struct IoInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  SymbolicShape shape;  // as declared by the model; empty with has_shape false if unknown
  bool has_shape = false;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(Model model, SessionOptions options = {});

  const std::vector<IoInfo>& inputs() const { return inputs_; }
  const std::vector<IoInfo>& outputs() const { return outputs_; }
  const Model& model() const { return model_; }
  const SessionOptions& options() const { return options_; }
  size_t arena_bytes() const { return executor_->arena_bytes(); }
  size_t dynamic_node_count() const { return executor_->dynamic_node_count(); }

  // Runs with inputs in the order of inputs(); checks their dtypes and shapes
  // against the declared ones. Outputs are fresh tensors owned by the caller.
  Status run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs);

 private:
  Session() = default;

  Model model_;
  SessionOptions options_;
  std::vector<IoInfo> inputs_, outputs_;
  std::unique_ptr<GraphExecutor> executor_;
};

}  // namespace iskra
