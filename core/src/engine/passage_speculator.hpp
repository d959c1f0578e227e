// RaLMSpec's speculative retrieval for one request (Zhang et al., ICML 2024).
//
// Each step at a retrieval point takes its passages from the speculative
// cache instead of the retriever. A round's batched search returns what the
// retriever would have said for each step's query; the steps agree up to the
// first mismatch, where the request is restored to that step's checkpoint and
// continues with the true passages. Every real search's top `prefetch`
// passages go into the cache. With engine.draft, the pipeline's draft
// retriever (a cheap approximate index over the same passages) offers its
// top `prefetch` for each speculative step too, or instead of the cache; the
// verification is unchanged, so outputs are too. The rounds themselves are
// speculation_rounds.hpp's.
#pragma once

#include "generation.hpp"
#include "ralm/core/engine/speculative_cache.hpp"

namespace ralm::core {

void run_passage_speculation(Generation& gen, const BuiltPipeline& pipeline, const EngineSettings& settings,
                             SpeculativeCache& cache, RequestResult& result);

}  // namespace ralm::core
