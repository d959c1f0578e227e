// The bodies of POST /v1/completions and POST /v1/retrieve, checked field by
// field before anything reaches the engine: each mistake is a BadRequest
// naming the field and the fix (docs/SERVING.md lists the fields).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "bad_request.hpp"
#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/pipeline_builder.hpp"

namespace ralm::server {

// What the served pipeline allows a completion.
struct CompletionLimits {
  std::string model;                    // the served name: `model` must equal it when given
  std::int32_t context_length = 0;      // the model's
  std::int32_t reserved_tokens = 0;     // context the engine keeps besides prompt and output (passages)
  std::int32_t default_max_tokens = 0;  // engine.max_new_tokens
  core::SamplingSettings sampling;      // the pipeline's; a request may change temperature, top_p and seed
  // The prompt's length in tokens as the engine counts it (BOS included).
  std::function<std::int32_t(const std::string&)> count_prompt_tokens;
};

// The limits of a pipeline's engine, serving under the name `model`. The
// room for passages is counted as the engine counts it before it trims a
// prompt (generation.cpp): top_k passages of max_passage_tokens and two
// marking tokens each, and the two tokens of input it keeps at least.
CompletionLimits completion_limits(const core::BuiltPipeline& pipeline, const core::EngineSettings& settings,
                                   std::string model);

struct CompletionRequest {
  std::string prompt;
  std::int32_t prompt_tokens = 0;
  std::int32_t max_tokens = 0;
  core::RequestOptions options;   // max_new_tokens and sampling, set from the body
  std::vector<std::string> stop;  // none empty
  bool stream = false;
};

// The most stop strings one request may give (OpenAI's bound).
inline constexpr std::size_t kMaxStopStrings = 4;

CompletionRequest parse_completion_request(std::string_view body, const CompletionLimits& limits);

struct RetrieveRequest {
  std::string query;
  std::int64_t k = 1;
};

// `default_k`: engine.top_k, for a body without k.
RetrieveRequest parse_retrieve_request(std::string_view body, std::int64_t default_k);

}  // namespace ralm::server
