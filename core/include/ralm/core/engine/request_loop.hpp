// The iterative retrieve-and-generate loop of In-Context RALM (Ram et al.,
// 2023), which belongs to the core and knows no plugin by name.
//
// Every `stride` generated tokens (and before the first) it forms a query
// from the last `query_tokens` tokens, detokenised; takes the retriever's top
// `top_k` passages, each truncated to `max_passage_tokens`; and asks the
// context policy for the token layout the model should now have seen. It
// keeps the longest prefix of the sequence's KV cache that agrees with that
// layout (no more than the policy allows) and evaluates the rest. Between
// retrievals it decodes one token at a time (greedy, or sampled with a seed).
//
// With a speculation scheduler in the pipeline it runs RaLMSpec instead: a
// per-request (or shared) cache of passages stands in for the retriever for
// a round of steps, one batched search verifies them, and the request rolls
// back to the first wrong step (passage_speculator.cpp; kNN-LM's neighbours:
// neighbour_speculator.cpp). Outputs are those of the loop without
// speculation.
//
// With engine.prefix_cache_mb, the keys and values of the leading tokens a
// layout shares with other requests (BOS and the passages, for prepend) come
// from a prefix cache shared by the loop's requests when it holds them
// (prefix_cache.hpp). Outputs are bit-identical to computing them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "ralm/core/engine/prefix_cache.hpp"
#include "ralm/core/engine/request_result.hpp"
#include "ralm/core/engine/sampler.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/params.hpp"

namespace ralm::core {

class SpeculativeCache;

// Where a speculative step's candidate passages come from (engine.draft):
// the speculative cache alone (RaLMSpec's), the draft retriever's top
// `prefetch` alone, or both. The candidates are ranked by the retriever's
// score() either way, and verification is the same.
enum class DraftMode { off, only, with_cache };

// RaLMSpec's knobs; used only when the pipeline has a scheduler.
struct SpeculationSettings {
  // Each real search fetches this many passages into the speculative cache
  // (the paper's prefetch: 20; top_k alone is speculation without prefetch).
  std::int32_t prefetch = 20;
  // Verify on another thread while the next step runs.
  bool async_verification = false;
  // Passages the cache holds before evicting the least recently used; 0: no bound.
  std::int32_t cache_capacity = 4096;
  // One cache for every request of a run rather than one per request.
  bool shared_cache = false;
  // Speculative kNN-LM: the entries after each neighbour found go into the
  // cache (RaLMSpec's 10).
  std::int32_t successors = 10;
  // Whether speculation also asks the pipeline's draft retriever.
  DraftMode draft = DraftMode::off;
};

struct EngineSettings {
  std::int32_t stride = 4;
  std::int32_t query_tokens = 32;
  std::int32_t top_k = 1;
  std::int32_t max_passage_tokens = 256;
  std::int32_t max_new_tokens = 64;
  SamplingSettings sampling;  // greedy by default
  SpeculationSettings speculation;
  // Serving (core::Engine): requests stepped together, requests waiting
  // beyond them (0: no bound), and the most prompt tokens one request adds to
  // a step, so that a long prompt joins the batch over several steps instead
  // of stalling everyone's decode.
  std::int32_t max_batch = 1;
  std::int32_t max_queue = 0;
  std::int32_t prefill_chunk = 256;
  // The prefix cache's budget (engine.prefix_cache_mb); 0: off, and every
  // request computes its whole layout, as In-Context RALM's cost model has it.
  std::int64_t prefix_cache_bytes = 0;

  static EngineSettings from(const Params& engine);
};

// A request's own length and sampling, instead of the engine's
// (engine.max_new_tokens and the sampling keys); checked as those are.
struct RequestOptions {
  std::optional<std::int32_t> max_new_tokens{};
  std::optional<SamplingSettings> sampling{};
};

// How a caller follows and stops one request while it runs.
struct RequestControl {
  // Tokens that have become final, in order, as they do: never taken back by
  // a rollback. Called on the thread that runs the request.
  std::function<void(std::span<const TokenId>)> on_tokens;
  // Set from any thread to stop the request before its next token; its
  // result then says `cancelled` and holds what was final.
  const std::atomic<bool>* cancel = nullptr;
  RequestOptions options;
};

class RequestLoop {
 public:
  // The pipeline must have a model and a policy, and a retriever when the
  // policy uses passages; otherwise an InputError says which is missing.
  RequestLoop(const BuiltPipeline& pipeline, EngineSettings settings);
  ~RequestLoop();

  // One request from text (tokenised with BOS) or from token ids.
  RequestResult run(const std::string& prompt, const RequestControl& control = {});
  RequestResult run_tokens(Tokens input, const RequestControl& control = {});

  const EngineSettings& settings() const { return settings_; }

  // The prefix cache its requests share (prefix_cache.hpp); null when
  // engine.prefix_cache_mb is 0. Thread-safe.
  PrefixCache* prefix_cache() const { return prefix_cache_.get(); }
  // Its figures; all zero when it is off.
  PrefixCacheStats prefix_cache_stats() const;

 private:
  // The engine's settings with the request's own length and sampling.
  EngineSettings request_settings(const RequestOptions& options) const;

  const BuiltPipeline& pipeline_;
  EngineSettings settings_;
  std::unique_ptr<SpeculativeCache> shared_cache_;  // with speculation.shared_cache
  std::unique_ptr<PrefixCache> prefix_cache_;       // with prefix_cache_bytes > 0
};

// The query the loop issues when `generated` tokens follow `input`: the last
// `query_tokens` of input ⊕ generated (BOS excluded), as token ids.
Tokens query_window(const Tokens& input, const Tokens& generated, std::int32_t query_tokens, TokenId bos);

}  // namespace ralm::core
