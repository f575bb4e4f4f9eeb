#include "base/str_cat.h"
#include "passes/passes.h"

namespace iskra {

std::string PassStats::to_string() const {
  return str_cat(identities_removed, " identities removed, ", batch_norms_folded, " batch norms and ",
                 affines_folded, " scales/shifts folded, ", hard_swishes_recognized, " HardSwish recognized, ",
                 activations_fused, " activations and ", residual_adds_fused, " residual adds fused, ",
                 channels_last_nodes, " nodes channels-last");
}

Result<PassStats> optimize_graph(Graph& graph, const PassOptions& options) {
  PassStats stats;
  stats.identities_removed = remove_identities(graph);
  stats.batch_norms_folded = fold_conv_batch_norm(graph);
  stats.affines_folded = fold_conv_affine(graph);
  stats.hard_swishes_recognized = recognize_hard_swish(graph);
  fuse_conv_epilogues(graph, stats);
  if (options.channels_last) {
    stats.channels_last_nodes = choose_channels_last(graph);
    fuse_conv_epilogues(graph, stats);  // what the layout pass brought next to its convs
  }
  ISKRA_RETURN_IF_ERROR(verify_graph(graph).with_context("after graph passes: "));
  return stats;
}

}  // namespace iskra
