// Speculative kNN-LM (RaLMSpec, Zhang et al., ICML 2024, §kNN-LM): RaLMSpec's
// speculation applied to the search a policy runs at every position.
//
// kNN-LM searches its datastore with every position's key. Here a position's
// neighbours come from a per-request cache of datastore entries instead (the
// successors of the entries earlier searches found: where the corpus went
// next), ranked by the policy's own score(); the logits are adjusted with
// them and the token chosen. A round's batched search returns the true neighbours of each position's key; a
// position is kept when the token its true neighbours give equals the token
// chosen (the model's keys depend only on the tokens, so every later key
// stays right). At the first position that differs the request is restored
// there and continues with the true token: no model work is redone for that
// position, only the positions after it are thrown away.
//
// Sampled requests are exact too: a position's true token is drawn from a
// copy of the generator as it stood at that position.
//
// The rounds themselves, asynchronous verification included, are
// speculation_rounds.hpp's.
#pragma once

#include "generation.hpp"
#include "ralm/core/engine/speculative_cache.hpp"

namespace ralm::core {

void run_neighbour_speculation(Generation& gen, const BuiltPipeline& pipeline, const NeighbourSearch& search,
                               const EngineSettings& settings, SpeculativeCache& cache,
                               RequestResult& result);

}  // namespace ralm::core
