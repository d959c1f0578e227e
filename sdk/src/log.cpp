#include "ralm/log.hpp"

#include <atomic>
#include <cstdio>
#include <string>

namespace ralm {
namespace {

const char* level_word(LogLevel level) {
  switch (level) {
    case LogLevel::Trace:
      return "trace";
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warning";
    case LogLevel::Error:
      return "error";
    case LogLevel::Off:
      return "off";
  }
  return "?";
}

// Used until the core installs its own sink (tests that use the SDK alone).
void stderr_sink(LogLevel level, std::string_view message) {
  std::string line = std::string("ralm: ") + level_word(level) + ": ";
  line.append(message);
  line.push_back('\n');
  std::fputs(line.c_str(), stderr);
}

std::atomic<LogSink> g_sink{&stderr_sink};
std::atomic<int> g_level{static_cast<int>(LogLevel::Warn)};

}  // namespace

void log(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  g_sink.load(std::memory_order_acquire)(level, message);
}

bool log_enabled(LogLevel level) {
  return level != LogLevel::Off && static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void set_log_sink(LogSink sink, LogLevel level) {
  g_sink.store(sink ? sink : &stderr_sink, std::memory_order_release);
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

}  // namespace ralm
