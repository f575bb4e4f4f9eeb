// Status and Result<T>: how every fallible Iskra function reports failure.
//
// Codes are few and grouped (as ExecuTorch does): the caller decides what to
// do from the code, and a person reads the message, which names what failed
// and where (file, node, op, input).
#pragma once

#include <cassert>
#include <exception>
#include <string>
#include <utility>
#include <variant>

namespace iskra {

enum class StatusCode {
  kOk = 0,
  kInvalidModel,      // the model file is malformed or inconsistent
  kUnsupported,       // valid model, but an op/dtype/feature Iskra does not run
  kInvalidArgument,   // bad input from the caller (shape, dtype, missing input)
  kOutOfMemory,       // allocation failed or a memory limit was exceeded
  kIoError,           // a file could not be read or written
  kNeedsValue,        // shape inference needs a tensor value not known yet
  kInternal,          // a bug in Iskra
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes the message with context, e.g. "node 'conv1' (Conv): ".
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(code_, context + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Factory helpers: error helpers take pieces that are concatenated.
template <typename... Args>
std::string str_cat(const Args&... args);

template <typename... Args>
Status invalid_model(const Args&... a) { return Status(StatusCode::kInvalidModel, str_cat(a...)); }
template <typename... Args>
Status unsupported(const Args&... a) { return Status(StatusCode::kUnsupported, str_cat(a...)); }
template <typename... Args>
Status invalid_argument(const Args&... a) { return Status(StatusCode::kInvalidArgument, str_cat(a...)); }
template <typename... Args>
Status out_of_memory(const Args&... a) { return Status(StatusCode::kOutOfMemory, str_cat(a...)); }
template <typename... Args>
Status io_error(const Args&... a) { return Status(StatusCode::kIoError, str_cat(a...)); }
template <typename... Args>
Status internal_error(const Args&... a) { return Status(StatusCode::kInternal, str_cat(a...)); }
template <typename... Args>
Status needs_value(const Args&... a) { return Status(StatusCode::kNeedsValue, str_cat(a...)); }

// Thrown by Result::value() on a Result that holds an error: code that takes
// the value without checking assumes the step cannot fail, which holds except
// when a small allocation fails. The API boundary (c_api.cc) turns it back
// into its status, so out of memory there is reported as out of memory.
class StatusError : public std::exception {
 public:
  explicit StatusError(Status status) : status_(std::move(status)) {}
  const Status& status() const { return status_; }
  const char* what() const noexcept override { return status_.message().c_str(); }

 private:
  Status status_;
};

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(data_).is_ok() && "Result built from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & {
    check();
    return std::get<T>(data_);
  }
  const T& value() const& {
    check();
    return std::get<T>(data_);
  }
  T&& value() && {
    check();
    return std::get<T>(std::move(data_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  void check() const {
    if (!is_ok()) [[unlikely]]
      throw StatusError(std::get<Status>(data_));
  }

  std::variant<T, Status> data_;
};

}  // namespace iskra

#include "base/str_cat.h"

#define ISKRA_CONCAT_INNER(a, b) a##b
#define ISKRA_CONCAT(a, b) ISKRA_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is an error.
#define ISKRA_RETURN_IF_ERROR(expr)               \
  do {                                            \
    ::iskra::Status iskra_status_ = (expr);       \
    if (!iskra_status_.is_ok()) return iskra_status_; \
  } while (0)

// `ISKRA_ASSIGN_OR_RETURN(auto x, make_x());` binds the value or returns the error.
#define ISKRA_ASSIGN_OR_RETURN(decl, expr) \
  ISKRA_ASSIGN_OR_RETURN_IMPL(ISKRA_CONCAT(iskra_result_, __LINE__), decl, expr)
#define ISKRA_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.is_ok()) return tmp.status();             \
  decl = std::move(tmp).value()
