// RaLMSpec's speculative retrieval for one request (Zhang et al., ICML 2024).
//
// Each step at a retrieval point takes its passages from the speculative
// cache instead of the retriever. After `s` steps (the scheduler's stride)
// one batched search returns what the retriever would have said for each
// step's query; the steps agree up to the first mismatch, where the request
// is restored to that step's checkpoint and continues with the true passages.
// Every real search's top `prefetch` passages go into the cache.
//
// With asynchronous verification the batched search runs on another thread
// while the main thread runs one more speculative step; a failed
// verification discards that step too. Only the main thread touches the
// model, the policy and the cache; the other thread only calls search().
#pragma once

#include "generation.hpp"
#include "ralm/core/engine/speculative_cache.hpp"

namespace ralm::core {

void run_speculative(Generation& gen, const BuiltPipeline& pipeline, const EngineSettings& settings,
                     SpeculativeCache& cache, RequestResult& result);

}  // namespace ralm::core
