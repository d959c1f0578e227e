// The iterative retrieve-and-generate loop (DESIGN.md §2), which belongs to
// the core and knows no plugin by name.
//
// Every `stride` generated tokens (and before the first) it forms a query
// from the last `query_tokens` tokens, detokenised; takes the retriever's top
// `top_k` passages, each truncated to `max_passage_tokens`; and asks the
// context policy for the token layout the model should now have seen. It
// keeps the longest prefix of the sequence's KV cache that agrees with that
// layout (no more than the policy allows) and evaluates the rest. Between
// retrievals it decodes one token at a time, greedily.
#pragma once

#include <cstdint>
#include <string>

#include "ralm/core/engine/request_result.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/params.hpp"

namespace ralm::core {

struct EngineSettings {
  std::int32_t stride = 4;
  std::int32_t query_tokens = 32;
  std::int32_t top_k = 1;
  std::int32_t max_passage_tokens = 256;
  std::int32_t max_new_tokens = 64;

  static EngineSettings from(const Params& engine);
};

class RequestLoop {
 public:
  // The pipeline must have a model and a policy, and a retriever when the
  // policy uses passages; otherwise an InputError says which is missing.
  RequestLoop(const BuiltPipeline& pipeline, EngineSettings settings);

  // One request from text (tokenised with BOS) or from token ids.
  RequestResult run(const std::string& prompt);
  RequestResult run_tokens(Tokens input);

  const EngineSettings& settings() const { return settings_; }

 private:
  const BuiltPipeline& pipeline_;
  EngineSettings settings_;
};

// The query the loop issues when `generated` tokens follow `input`: the last
// `query_tokens` of input ⊕ generated (BOS excluded), as token ids.
Tokens query_window(const Tokens& input, const Tokens& generated, std::int32_t query_tokens, TokenId bos);

}  // namespace ralm::core
