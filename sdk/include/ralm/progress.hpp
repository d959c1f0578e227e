// Progress of long work (index builds, training, datastore passes).
//
// On a terminal it redraws one line on stderr with items done, rate and time
// left, at most a few times a second; when stderr is not a terminal (a log
// file, CI) it prints nothing until finish(), which logs one summary line.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ralm {

class Progress {
 public:
  // `total` <= 0 when unknown: then no time left is shown.
  Progress(std::string what, std::int64_t total, std::string unit = "items");
  ~Progress();

  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::int64_t n = 1);
  void set(std::int64_t done);
  void finish();
  // A short status appended to the line (a training loss, say); redrawn with
  // the next advance() or set().
  void set_note(std::string note);

  // The line as it would be drawn now, for tests.
  std::string line() const;

 private:
  using Clock = std::chrono::steady_clock;
  void maybe_draw();

  std::string what_;
  std::string unit_;
  std::string note_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  bool terminal_;
  bool finished_ = false;
};

// "1h02m", "3m05s", "4.2s": a duration for people.
std::string format_duration(double seconds);

}  // namespace ralm
