// What one request through the engine produced, and where its time went.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ralm/types.hpp"

namespace ralm::core {

// Seconds spent in each phase of a request. The phases partition the wall
// time: `other` is whatever the named phases do not cover (tokenising,
// policies, choosing tokens), so the parts add up to `total` exactly.
struct PhaseTimes {
  double retrieval = 0;     // retriever calls: real searches and passage text
  double cache = 0;         // speculation: cache ranking, draft searches, passage text
  double prefill = 0;       // model evaluations of more than one token
  double decode = 0;        // one-token model evaluations
  double verification = 0;  // speculation: batched retrievals that check speculated steps
  double rollback = 0;      // speculation: compute thrown away at a mismatch
  double other = 0;
  double total = 0;
  // Asynchronous speculation: verification time hidden behind the model's
  // work on another thread. Not part of `total`; `verification` holds only
  // the time spent waiting for it.
  double overlapped = 0;
  // Serving: time the request waited in the engine's queue before it ran.
  // Not part of `total`, which starts when the request does.
  double queued = 0;

  PhaseTimes& operator+=(const PhaseTimes& o);
};

// What speculation did in a request (all zero without a scheduler).
struct SpeculationStats {
  std::int64_t rounds = 0;      // batched verifications
  std::int64_t speculated = 0;  // steps served by the cache and then verified
  std::int64_t accepted = 0;    // of those, the steps whose passages were right
  std::int64_t rollbacks = 0;   // rounds that rolled back at a mismatch
  std::int64_t real = 0;        // real retrievals: the cache too small, or the scheduler fell back
  // With a draft retriever (engine.draft): its searches and their time (part
  // of the `cache` phase), and the speculated steps that took a passage only
  // the draft offered (the cache did not hold it), with how many of those
  // were right; the other speculated steps the cache alone could have served.
  std::int64_t draft_searches = 0;
  double draft_seconds = 0;
  std::int64_t draft_speculated = 0;
  std::int64_t draft_accepted = 0;

  SpeculationStats& operator+=(const SpeculationStats& o);
  double acceptance() const { return speculated > 0 ? static_cast<double>(accepted) / speculated : 0.0; }
};

// One retrieval: where it happened and what it returned.
struct RetrievalRecord {
  std::int32_t position = 0;  // tokens generated before it
  std::string query;
  std::vector<Hit> hits;
  bool speculative = false;  // served from the speculative cache (and verified)
};

struct RequestResult {
  std::string id;
  Tokens input;   // after any overflow trimming
  Tokens output;  // generated tokens, EOS included if it came
  std::string text;
  bool stopped_at_eos = false;
  bool cancelled = false;                 // stopped by RequestControl::cancel before its end
  std::int32_t input_tokens_dropped = 0;  // oldest input tokens dropped to fit the context
  std::int64_t tokens_computed = 0;       // tokens the model evaluated
  std::int64_t tokens_kept = 0;           // input + output: what a single pass would compute
  std::int64_t prefix_tokens_reused = 0;  // tokens copied from the engine's prefix cache, not computed
  std::vector<RetrievalRecord> retrievals;
  PhaseTimes times;
  SpeculationStats speculation;
};

}  // namespace ralm::core
