#include "metrics.hpp"

#include <sstream>

namespace ralm::server {
namespace {

// Seconds, from a fast answer to the longest deadline a request may have.
const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                            2.5,   5,    10,    30,   60,  120,  300};

std::string number(double v) {
  std::ostringstream out;
  out.precision(9);
  out << v;
  return out.str();
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

template <typename T>
void sample(std::string& out, const std::string& name, T value, const std::string& labels = "") {
  out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + number(static_cast<double>(value)) + "\n";
}

template <typename T>
void single(std::string& out, const std::string& name, const char* type, const std::string& help, T value) {
  header(out, name, type, help);
  sample(out, name, value);
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  std::size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket])
    ++bucket;
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name, "histogram", help);
  std::int64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    sample(out, name + "_bucket", cumulative,
           "le=\"" + (i < bounds_.size() ? number(bounds_[i]) : "+Inf") + "\"");
  }
  sample(out, name + "_sum", sum_);
  sample(out, name + "_count", count_);
}

ServerMetrics::ServerMetrics()
    : duration_(kLatencyBounds), queued_(kLatencyBounds), first_text_(kLatencyBounds) {
  for (const char* reason : {"stop", "length", "cancelled"})
    completions_[reason] = 0;
}

void ServerMetrics::response(int status) {
  std::lock_guard lock(mutex_);
  ++responses_[status];
}

void ServerMetrics::completion(const std::string& finish_reason, std::int64_t prompt_tokens,
                               std::int64_t completion_tokens, double seconds, double queued_seconds,
                               std::optional<double> first_text_seconds) {
  std::lock_guard lock(mutex_);
  ++completions_[finish_reason];
  prompt_tokens_ += prompt_tokens;
  completion_tokens_ += completion_tokens;
  duration_.observe(seconds);
  queued_.observe(queued_seconds);
  if (first_text_seconds) first_text_.observe(*first_text_seconds);
}

std::string ServerMetrics::render(const core::EngineStats& e) const {
  std::string out;
  header(out, "ralm_requests_total", "counter",
         "requests the engine ended, by outcome, and those it refused");
  sample(out, "ralm_requests_total", e.finished, "outcome=\"finished\"");
  sample(out, "ralm_requests_total", e.cancelled, "outcome=\"cancelled\"");
  sample(out, "ralm_requests_total", e.failed, "outcome=\"failed\"");
  sample(out, "ralm_requests_total", e.rejected, "outcome=\"rejected\"");
  single(out, "ralm_requests_submitted_total", "counter", "requests submitted to the engine", e.submitted);
  single(out, "ralm_requests_queued", "gauge", "requests waiting for a place in the batch", e.queued);
  single(out, "ralm_requests_running", "gauge", "requests in the batch", e.running);
  single(out, "ralm_batch_steps_total", "counter", "batched model evaluations", e.steps);
  single(out, "ralm_batch_sequences_total", "counter",
         "sequences in the batched evaluations (divided by steps: the mean batch size)", e.stepped_sequences);
  single(out, "ralm_batch_largest", "gauge", "the most sequences one evaluation held", e.largest_batch);
  single(out, "ralm_searches_total", "counter", "batched retriever searches", e.searches);
  single(out, "ralm_searched_queries_total", "counter", "queries in the batched searches",
         e.searched_queries);
  single(out, "ralm_prefill_tokens_total", "counter", "tokens evaluated in prefill", e.prefill_tokens);
  single(out, "ralm_decode_tokens_total", "counter", "tokens evaluated in decode", e.decode_tokens);
  single(out, "ralm_generated_tokens_total", "counter", "tokens handed to requests as final",
         e.generated_tokens);
  const core::PrefixCacheStats& p = e.prefix_cache;
  single(out, "ralm_prefix_cache_lookups_total", "counter", "prefix cache lookups (engine.prefix_cache_mb)",
         p.lookups);
  single(out, "ralm_prefix_cache_hits_total", "counter", "prefix cache lookups that returned a copy", p.hits);
  single(out, "ralm_prefix_cache_misses_total", "counter",
         "prefix cache lookups that found nothing long enough", p.misses);
  single(out, "ralm_prefix_cache_tokens_saved_total", "counter",
         "prompt positions copied from the prefix cache instead of computed", p.tokens_saved);
  single(out, "ralm_prefix_cache_evictions_total", "counter",
         "sequences the prefix cache dropped for its budget", p.evictions);
  single(out, "ralm_prefix_cache_entries", "gauge", "sequences the prefix cache holds", p.entries);
  single(out, "ralm_prefix_cache_bytes", "gauge", "bytes the prefix cache holds", p.bytes_held);
  single(out, "ralm_prefix_cache_capacity_bytes", "gauge", "the prefix cache's budget", p.capacity_bytes);

  std::lock_guard lock(mutex_);
  header(out, "ralm_http_responses_total", "counter", "HTTP responses, by status");
  for (const auto& [status, n] : responses_)
    sample(out, "ralm_http_responses_total", n, "status=\"" + std::to_string(status) + "\"");
  header(out, "ralm_completions_total", "counter", "completions answered, by finish reason");
  for (const auto& [reason, n] : completions_)
    sample(out, "ralm_completions_total", n, "finish_reason=\"" + reason + "\"");
  single(out, "ralm_prompt_tokens_total", "counter", "prompt tokens of the completions answered",
         prompt_tokens_);
  single(out, "ralm_completion_tokens_total", "counter", "tokens generated for the completions answered",
         completion_tokens_);
  duration_.write(out, "ralm_request_duration_seconds", "completions, from submission to their end");
  queued_.write(out, "ralm_request_queued_seconds",
                "completions, time waiting before the engine started them");
  first_text_.write(out, "ralm_time_to_first_text_seconds",
                    "completions, from submission to their first text");
  return out;
}

}  // namespace ralm::server
