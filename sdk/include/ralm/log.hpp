// Logging for plugins without handing them the core's logger object.
//
// The SDK library forwards these calls to a sink the core installs (spdlog on
// stderr in `ralm`); before that, messages at warn and above go to stderr.
#pragma once

#include <string_view>

namespace ralm {

enum class LogLevel { Trace = 0, Debug, Info, Warn, Error, Off };

using LogSink = void (*)(LogLevel level, std::string_view message);

void log(LogLevel level, std::string_view message);
bool log_enabled(LogLevel level);

inline void log_debug(std::string_view m) {
  log(LogLevel::Debug, m);
}
inline void log_info(std::string_view m) {
  log(LogLevel::Info, m);
}
inline void log_warn(std::string_view m) {
  log(LogLevel::Warn, m);
}

// For the core: where messages go and from which level on.
void set_log_sink(LogSink sink, LogLevel level);

}  // namespace ralm
