// The `none` policy: the model alone, no retrieval. The baseline every
// retrieval-augmented pipeline is compared against.
#pragma once

#include "ralm/context_policy.hpp"

namespace ralm::policies {

class NonePolicy final : public ContextPolicy {
 public:
  bool uses_passages() const override { return false; }
  std::unique_ptr<PolicyState> begin(const Tokens& input) override;
  Layout on_retrieval(PolicyState& state, const Tokens& input, const Tokens& generated,
                      std::span<const RetrievedPassage> passages) override;
};

}  // namespace ralm::policies
