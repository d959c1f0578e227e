// GET /metrics in Prometheus' text format 0.0.4: what the engine counts
// (core::EngineStats: requests, queue, batches, searches, tokens) read at
// each scrape, and what the server measures itself (responses by status,
// completions by finish reason, latency histograms).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ralm/core/engine/engine.hpp"

namespace ralm::server {

// Cumulative buckets, as Prometheus expects them.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  void write(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::int64_t> counts_;  // per bucket, the last one +Inf
  double sum_ = 0;
  std::int64_t count_ = 0;
};

// Thread-safe: every HTTP thread reports here.
class ServerMetrics {
 public:
  ServerMetrics();

  void response(int status);
  void completion(const std::string& finish_reason, std::int64_t prompt_tokens,
                  std::int64_t completion_tokens, double seconds, double queued_seconds,
                  std::optional<double> first_text_seconds);
  std::string render(const core::EngineStats& engine) const;

 private:
  mutable std::mutex mutex_;
  std::map<int, std::int64_t> responses_;
  std::map<std::string, std::int64_t> completions_;
  std::int64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  Histogram duration_, queued_, first_text_;
};

}  // namespace ralm::server
