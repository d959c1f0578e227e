#include "ralm/error.hpp"

namespace ralm {

// Out of line on purpose: this file is the one home of the classes' vtables
// and type_info (see error.hpp).
Error::Error(const std::string& message) : std::runtime_error(message) {}
Error::~Error() = default;

InputError::InputError(const std::string& message) : Error(message) {}
InputError::~InputError() = default;

}  // namespace ralm
