#include "ralm/core/engine/sampler.hpp"

#include <algorithm>
#include <cmath>

#include "ralm/error.hpp"

namespace ralm::core {

void SamplingSettings::check() const {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    throw InputError("engine.temperature: " + std::to_string(temperature) +
                     " must be 0 (greedy) or positive");
  if (top_k < 0)
    throw InputError("engine.top_k_sampling: " + std::to_string(top_k) + " must be 0 (all) or positive");
  if (!(top_p > 0 && top_p <= 1))
    throw InputError("engine.top_p: " + std::to_string(top_p) + " must be in (0, 1]; 1 keeps every token");
}

TokenId greedy_token(std::span<const float> logits) {
  if (logits.empty()) throw Error("greedy_token: no logits");
  return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(SamplingSettings settings) : settings_(settings), generator_(settings.seed) {
  settings_.check();
}

double Sampler::uniform() {
  return static_cast<double>(generator_() >> 11) * 0x1.0p-53;
}

TokenId Sampler::sample(std::span<const float> logits) {
  if (settings_.greedy()) return greedy_token(logits);
  if (logits.empty()) throw Error("Sampler::sample: no logits");
  const auto vocab = logits.size();
  auto& c = candidates_;
  c.resize(vocab);
  for (std::size_t i = 0; i < vocab; ++i)
    c[i] = {static_cast<double>(logits[i]), static_cast<TokenId>(i)};
  // Most likely first, ties to the lower id. Sorting is only needed when a
  // filter keeps a prefix of that order.
  const auto before = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::size_t n = vocab;
  if (settings_.top_k > 0 && static_cast<std::size_t>(settings_.top_k) < vocab) {
    n = static_cast<std::size_t>(settings_.top_k);
    std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(n), c.end(), before);
  } else if (settings_.top_p < 1) {
    std::sort(c.begin(), c.end(), before);
  }
  c.resize(n);
  // Softmax at the temperature, over the candidates kept so far.
  double top = c[0].first;
  for (const auto& [logit, id] : c)
    top = std::max(top, logit);
  double total = 0;
  for (auto& [p, id] : c) {
    p = std::exp((p - top) / settings_.temperature);
    total += p;
  }
  if (settings_.top_p < 1) {
    // The sorted prefix whose probability first reaches top_p.
    double mass = 0;
    std::size_t keep = 0;
    while (keep < c.size()) {
      mass += c[keep++].first;
      if (mass >= settings_.top_p * total) break;
    }
    c.resize(keep);
    total = mass;
  }
  const double u = uniform() * total;
  double cumulative = 0;
  for (const auto& [p, id] : c) {
    cumulative += p;
    if (u < cumulative) return id;
  }
  return c.back().second;  // u rounded up to the total
}

}  // namespace ralm::core
