// OpKind: the enum of IR ops, generated from ops.def.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace iskra {

enum class OpKind : int {
#define ISKRA_OP(name) name,
#include "ir/ops.def"
#undef ISKRA_OP
};

inline constexpr size_t kOpKindCount = 0
#define ISKRA_OP(name) +1
#include "ir/ops.def"
#undef ISKRA_OP
    ;

const char* op_name(OpKind op);
// The op a model file names; never an internal op.
std::optional<OpKind> op_from_name(std::string_view name);
// Ops made by graph passes (fusions), which no file may name.
inline bool is_internal_op(OpKind op) { return static_cast<int>(op) >= static_cast<int>(OpKind::FusedConv); }

}  // namespace iskra
