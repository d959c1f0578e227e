// The error types every library of the project throws and catches.
//
// Both classes have out-of-line destructors in the SDK library, so their
// type_info exists once and an exception thrown inside a plugin is caught by
// the core as the same type.
#pragma once

#include <stdexcept>
#include <string>

namespace ralm {

// Something went wrong while running: an I/O failure, an exhausted resource,
// a bug. The command exits with status 1.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message);
  ~Error() override;
};

// The user gave something wrong: a pipeline value, a file, an argument. The
// message names the place (file:line:column where known), what is wrong and
// how to fix it, on one line. The command exits with status 2.
class InputError : public Error {
 public:
  explicit InputError(const std::string& message);
  ~InputError() override;
};

}  // namespace ralm
