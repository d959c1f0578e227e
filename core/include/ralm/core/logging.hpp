// The `ralm` command's logging: spdlog on stderr, behind the SDK's façade.
#pragma once

#include <string>

#include "ralm/log.hpp"

namespace ralm::core {

// "trace", "debug", "info", "warn", "error" or "off"; anything else is an
// InputError naming `source` (the option or variable it came from).
LogLevel parse_log_level(const std::string& text, const std::string& source);

// Routes ralm::log() (core and plugins alike) to an spdlog stderr logger.
void init_logging(LogLevel level);

}  // namespace ralm::core
