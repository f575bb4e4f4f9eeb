// str_cat: concatenates printable pieces into a std::string (for messages).
#pragma once

#include <sstream>
#include <string>

namespace iskra {

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace iskra
