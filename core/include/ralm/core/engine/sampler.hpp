// Choosing the next token from logits: greedy, or sampling with a
// temperature, top-k and top-p (nucleus) filtering from a seeded generator.
//
// Deterministic for a seed on every platform: the generator is std::mt19937_64
// (its output is fixed by the standard) and the uniform draw is made here from
// its 53 high bits rather than by std::uniform_real_distribution, whose
// algorithm the standard leaves to the library. Candidates are ordered by
// logit, ties to the lower id, so equal logits never depend on sort stability.
// A Sampler is a value: copy it to checkpoint the generator (speculation rolls
// back), assign the copy back to restore it.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "ralm/types.hpp"

namespace ralm::core {

struct SamplingSettings {
  double temperature = 0;  // 0: greedy; otherwise logits are divided by it
  std::int32_t top_k = 0;  // keep the k most likely tokens; 0: all
  double top_p = 1;        // keep the fewest most likely tokens whose probability reaches p; 1: all
  std::uint64_t seed = 0;

  bool greedy() const { return temperature == 0; }
  // A negative temperature or top_k, or top_p outside (0, 1], is an InputError.
  void check() const;
};

// The first of the largest logits (the lowest id among equal maxima).
TokenId greedy_token(std::span<const float> logits);

class Sampler {
 public:
  Sampler() : Sampler(SamplingSettings{}) {}  // greedy
  explicit Sampler(SamplingSettings settings);

  // The next token. Greedy settings never touch the generator.
  TokenId sample(std::span<const float> logits);

  const SamplingSettings& settings() const { return settings_; }

 private:
  double uniform();  // in [0, 1)

  SamplingSettings settings_;
  std::mt19937_64 generator_;
  std::vector<std::pair<double, TokenId>> candidates_;  // scratch: (probability or logit, id)
};

}  // namespace ralm::core
