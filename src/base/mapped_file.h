// MappedFile: a whole file mapped read-only into memory (mmap), for model
// loaders that parse it in place instead of copying it into a buffer.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "base/status.h"

namespace iskra {

class MappedFile {
 public:
  // Errors name the path and the system's reason (missing, a directory, ...).
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const void* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  void* data_ = nullptr;  // nullptr for an empty file
  size_t size_ = 0;
  std::string path_;
};

}  // namespace iskra
