#include "ralm/core/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "ralm/core/suggest.hpp"
#include "ralm/error.hpp"

namespace ralm::core {
namespace {

const std::vector<std::string> kLevelNames = {"trace", "debug", "info", "warn", "error", "off"};

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::Trace:
      return spdlog::level::trace;
    case LogLevel::Debug:
      return spdlog::level::debug;
    case LogLevel::Info:
      return spdlog::level::info;
    case LogLevel::Warn:
      return spdlog::level::warn;
    case LogLevel::Error:
      return spdlog::level::err;
    case LogLevel::Off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

void spdlog_sink(LogLevel level, std::string_view message) {
  spdlog::log(to_spdlog(level), "{}", message);
}

}  // namespace

LogLevel parse_log_level(const std::string& text, const std::string& source) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i) {
    if (text == kLevelNames[i]) return static_cast<LogLevel>(i);
  }
  throw InputError(source + ": unknown log level '" + text + "'" + did_you_mean(text, kLevelNames) +
                   "; use one of " + join_names(kLevelNames));
}

void init_logging(LogLevel level) {
  auto logger = spdlog::stderr_color_mt("ralm");
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  logger->set_level(to_spdlog(level));
  spdlog::set_default_logger(logger);
  set_log_sink(&spdlog_sink, level);
}

}  // namespace ralm::core
