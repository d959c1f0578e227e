#include "ralm/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "ralm/log.hpp"

namespace ralm {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  } else if (seconds < 3600) {
    const auto s = static_cast<long>(seconds);
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    const auto m = static_cast<long>(seconds / 60);
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", m / 60, m % 60);
  }
  return buf;
}

Progress::Progress(std::string what, std::int64_t total, std::string unit)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      start_(Clock::now()),
      last_draw_(start_),
      terminal_(isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
  if (!finished_) finish();
}

void Progress::advance(std::int64_t n) {
  done_ += n;
  maybe_draw();
}

void Progress::set(std::int64_t done) {
  done_ = done;
  maybe_draw();
}

std::string Progress::line() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  char buf[384];
  if (total_ > 0) {
    const double left = rate > 0 ? static_cast<double>(total_ - done_) / rate : NAN;
    std::snprintf(buf, sizeof buf, "%s: %lld/%lld %s (%.0f%%), %.1f %s/s, %s elapsed, %s left", what_.c_str(),
                  static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(),
                  100.0 * static_cast<double>(done_) / static_cast<double>(total_), rate, unit_.c_str(),
                  format_duration(elapsed).c_str(), format_duration(left).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%s: %lld %s, %.1f %s/s, %s elapsed", what_.c_str(),
                  static_cast<long long>(done_), unit_.c_str(), rate, unit_.c_str(),
                  format_duration(elapsed).c_str());
  }
  if (!note_.empty()) return std::string(buf) + ", " + note_;
  return buf;
}

void Progress::maybe_draw() {
  if (!terminal_) return;
  const auto now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  std::fprintf(stderr, "\r\033[K%s", line().c_str());
  std::fflush(stderr);
}

void Progress::set_note(std::string note) {
  note_ = std::move(note);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (terminal_) std::fprintf(stderr, "\r\033[K");
  log(LogLevel::Info, line());
}

}  // namespace ralm
