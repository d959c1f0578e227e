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
// Model interface requires it; model plugins test one-shot == token-by-token
// bit for bit).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/sampler.hpp"
#include "stopwatch.hpp"

namespace ralm::core {

class Generation {
 public:
  using Clock = core::Clock;

  // Trims the oldest input tokens (BOS kept) when input, passages and output
  // would overflow the model's context, and counts them in `result`. With a
  // `prefix_cache` (the engine's, shared by its requests), a layout's
  // shared prefix starts from a cached copy when there is one and is kept
  // there once computed.
  Generation(const BuiltPipeline& pipeline, const EngineSettings& settings, Tokens input,
             RequestResult& result, const RequestControl& control = {}, PrefixCache* prefix_cache = nullptr);

  // max_new_tokens reached, EOS generated, or the request cancelled.
  bool done() const { return done_ || cancelled(); }
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

  // Token by token, for speculative kNN-LM: the engine, not the policy,
  // adjusts each position's logits (with speculated or true neighbours).
  // start_token_by_token() lays out the input and evaluates it; then logits()
  // and key() are the last position's, unadjusted, and advance() chooses the
  // next token from the logits it is given and, unless the request is done,
  // evaluates it.
  void start_token_by_token();
  std::span<const float> logits() const { return logits_; }
  std::span<const float> key() const { return key_; }
  // Returns the token chosen.
  TokenId advance(std::span<const float> adjusted_logits);
  // The generator as it stands: a copy tells which token given logits would
  // give without moving the request's generator.
  const Sampler& sampler() const { return sampler_; }

  struct Checkpoint {
    std::size_t generated = 0;
    std::size_t context = 0;
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

  // Hands the generated tokens before `end` to RequestControl::on_tokens,
  // those not handed over yet: the caller says they are final. Without
  // speculation every token is final as it is chosen and is handed over
  // then; a speculator calls this as its steps settle.
  void publish(std::size_t end);
  // From now on tokens are handed over only by publish(): a speculator's
  // steps are final once verified.
  void publish_when_settled() { publish_each_token_ = false; }
  std::size_t generated_count() const { return generated_.size(); }

  // Publishes what is left and fills the result's text, token counts and
  // `other` time.
  void finish(Clock::time_point start);

 private:
  bool cancelled() const {
    return control_.cancel != nullptr && control_.cancel->load(std::memory_order_relaxed);
  }
  void apply_layout(Layout layout);
  void evaluate_from(std::size_t keep);
  void choose_next();

  const BuiltPipeline& pipeline_;
  const EngineSettings& settings_;
  Model& model_;
  ContextPolicy& policy_;
  const Tokenizer& tokenizer_;
  RequestResult& result_;
  const RequestControl& control_;
  PrefixCache* prefix_cache_;  // null: off
  bool retrieves_;

  Tokens input_;
  Tokens generated_;
  std::unique_ptr<PolicyState> state_;
  std::unique_ptr<Sequence> seq_;
  Tokens context_;  // every token the model should have seen before the next is chosen
  std::vector<float> logits_;
  std::vector<float> key_;       // the last position's key, when the engine adjusts the logits
  bool engine_adjusts_ = false;  // token by token: evaluate_from leaves the logits alone
  std::vector<Hit> last_hits_;
  Sampler sampler_;
  bool done_ = false;
  bool publish_each_token_ = true;  // until a speculator publishes as its steps settle
  std::size_t published_ = 0;       // generated tokens handed to on_tokens
};

}  // namespace ralm::core
