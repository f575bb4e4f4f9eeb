#include "ir/op_kind.h"

#include <array>

namespace iskra {

namespace {
constexpr std::array<const char*, kOpKindCount> kOpNames = {
#define ISKRA_OP(name) #name,
#include "ir/ops.def"
#undef ISKRA_OP
};
}  // namespace

const char* op_name(OpKind op) { return kOpNames[static_cast<size_t>(op)]; }

std::optional<OpKind> op_from_name(std::string_view name) {
  for (size_t i = 0; i < kOpNames.size(); ++i)
    if (name == kOpNames[i] && !is_internal_op(static_cast<OpKind>(i))) return static_cast<OpKind>(i);
  return std::nullopt;
}

}  // namespace iskra
