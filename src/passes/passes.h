// Graph passes: rewrites of the IR that keep its meaning and make it cheaper
// to run. They run once when a session is created (SessionOptions::optimize),
// before any plan, on the session's own copy of the graph.
//
//   remove_identities      Identity, and Dropout whose mask is unused, become wires
//   fold_conv_batch_norm   Conv → BatchNormalization (constant statistics) becomes
//                          one Conv with scaled weights and a new bias
//   fold_conv_affine       Conv → Mul(constant) / Add(constant) per channel or
//                          tensor folds into the Conv's weights and bias
//   recognize_hard_swish   x·Clip(x+3, 0, 6)/6 becomes one HardSwish
//   fuse_conv_epilogues    Conv → [Add residual] → [activation] becomes one FusedConv
//   choose_channels_last   2-D convs and pools, and the ops around them, run in NHWC
//                          (see choose_layout.cc); transposes where NCHW is needed
//
// Each pass only rewrites what it can prove safe from the graph: single
// consumers, constant parameters, values that are not graph outputs.
#pragma once

#include <string>

#include "base/status.h"
#include "ir/graph.h"

namespace iskra {

struct PassStats {
  int identities_removed = 0;
  int batch_norms_folded = 0;
  int affines_folded = 0;
  int hard_swishes_recognized = 0;
  int activations_fused = 0;
  int residual_adds_fused = 0;
  int channels_last_nodes = 0;

  std::string to_string() const;
};

struct PassOptions {
  bool channels_last = true;  // run choose_channels_last
};

// Runs every pass in order on `graph` and its subgraphs.
Result<PassStats> optimize_graph(Graph& graph, const PassOptions& options = {});

// The passes, for tests.
int remove_identities(Graph& graph);
int fold_conv_batch_norm(Graph& graph);
int fold_conv_affine(Graph& graph);
int recognize_hard_swish(Graph& graph);
void fuse_conv_epilogues(Graph& graph, PassStats& stats);
int choose_channels_last(Graph& graph);  // returns the nodes converted

}  // namespace iskra
