// The fused activation of internal ops made by graph passes (FusedConv), as
// node attributes: `activation` (a name) and `activation_params` (floats).
#pragma once

#include "base/status.h"
#include "ir/graph.h"
#include "kernels/cpu/activation.h"

namespace iskra {

// None when the node has no `activation` attribute; an error naming the node
// for an unknown name or a wrong parameter count.
Result<cpu::Activation> fused_activation(const Node& node);
void set_fused_activation(Node& node, const cpu::Activation& act);
bool has_fused_activation(const Node& node);

}  // namespace iskra
