// One request's state as the request loop advances it: the prompt, the tokens
// generated, the policy's state, the model's sequence and where time went.
//
// The loop moves it forward one *step* at a time: a step starts at a
// retrieval point (every `stride` tokens), lays the context out with the
// passages it is given, and decodes up to the next retrieval point. A
// checkpoint taken before a step can be restored to throw the step (and every
// later one) away, which is how speculation rolls back.
//
// Rollback does not copy the KV cache: after a restore the next step's layout
// is synced against whatever the cache holds, keeping only the longest prefix
// that agrees. That is exact because a Model's keys and values at a position
// depend only on the tokens up to it, not on how evaluation was chunked (the
// llama plugin tests one-shot == token-by-token bit for bit).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/sampler.hpp"

namespace ralm::core {

class Generation {
 public:
  using Clock = std::chrono::steady_clock;

  // Trims the oldest input tokens (BOS kept) when input, passages and output
  // would overflow the model's context, and counts them in `result`.
  Generation(const BuiltPipeline& pipeline, const EngineSettings& settings, Tokens input,
             RequestResult& result);

  // max_new_tokens reached or EOS generated.
  bool done() const { return done_; }
  std::int32_t position() const { return static_cast<std::int32_t>(generated_.size()); }
  // Whether steps start with a retrieval (the policy uses passages).
  bool retrieves() const { return retrieves_; }

  // The query the baseline issues at the current position: the last
  // query_tokens tokens of input ⊕ generated, detokenised.
  std::string query() const;
  // The passages of `hits`, tokenised ("title\ntext") and truncated to
  // max_passage_tokens.
  std::vector<RetrievedPassage> passages(std::span<const Hit> hits) const;

  // The hits of the latest step, which a blank query keeps.
  const std::vector<Hit>& last_hits() const { return last_hits_; }

  // Records a retrieval and runs one step with its passages: the policy's
  // layout, the cache synced to it, then tokens up to the next retrieval point
  // (or to the end when the policy never retrieves).
  void step(RetrievalRecord record, std::span<const RetrievedPassage> passages);
  // The first step of a policy that uses no passages: decodes to the end.
  void run_without_retrieval();

  struct Checkpoint {
    std::size_t generated = 0;
    std::size_t records = 0;
    std::unique_ptr<PolicyState> policy;
    std::vector<Hit> last_hits;
    double prefill = 0, decode = 0;
    Sampler sampler;  // the generator's state, so a sampled request rolls back exactly
  };
  Checkpoint checkpoint() const;
  // Forgets every token and retrieval after `c`; the model time spent on them
  // moves from prefill/decode to rollback.
  void restore(const Checkpoint& c);

  // Fills the result's text, token counts and `other` time.
  void finish(Clock::time_point start);

 private:
  void apply_layout(Layout layout);
  void evaluate_from(std::size_t keep);
  void choose_next();

  const BuiltPipeline& pipeline_;
  const EngineSettings& settings_;
  Model& model_;
  ContextPolicy& policy_;
  const Tokenizer& tokenizer_;
  RequestResult& result_;
  bool retrieves_;

  Tokens input_;
  Tokens generated_;
  std::unique_ptr<PolicyState> state_;
  std::unique_ptr<Sequence> seq_;
  Tokens context_;  // every token the model should have seen before the next is chosen
  std::vector<float> logits_;
  std::vector<Hit> last_hits_;
  Sampler sampler_;
  bool done_ = false;
};

}  // namespace ralm::core
