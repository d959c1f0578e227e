// A request the server refuses with 400: one line naming the field at fault
// and the fix, as the project reports every bad input.
#pragma once

#include <stdexcept>
#include <string>

namespace ralm::server {

class BadRequest : public std::runtime_error {
 public:
  // `param`: the body's field at fault ("max_tokens"); empty for the body as
  // a whole (malformed JSON), answered as null.
  BadRequest(const std::string& message, std::string param)
      : std::runtime_error(message), param_(std::move(param)) {}

  const std::string& param() const { return param_; }

 private:
  std::string param_;
};

}  // namespace ralm::server
