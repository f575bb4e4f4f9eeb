// What both example programs do around their work: read --threads, print usage, and turn every
// error (iskra::Error included, a std::runtime_error) into one line on stderr and exit status 1.
#ifndef ISKRA_EXAMPLES_COMMON_APP_H_
#define ISKRA_EXAMPLES_COMMON_APP_H_

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

namespace example {

// Thrown by an argument parser for -h / --help.
struct UsageRequested {};

inline int parse_thread_count(const std::string& text) {
  char* end = nullptr;
  const long n = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || n < 1 || n > 256)
    throw std::runtime_error("--threads takes a number from 1 to 256, not '" + text + "'");
  return int(n);
}

// Runs `body` (returning the exit status): prints `usage` on UsageRequested, and
// "NAME: error: MESSAGE" with exit status 1 on an exception.
template <typename Body>
int run_app(const char* name, const char* usage, Body&& body) {
  try {
    return body();
  } catch (const UsageRequested&) {
    std::printf("usage: %s %s\n", name, usage);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace example

#endif  // ISKRA_EXAMPLES_COMMON_APP_H_
