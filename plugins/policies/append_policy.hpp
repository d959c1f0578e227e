// FlashBack (Liu et al. 2025): the passages go after the input,
//   input ⊕ <MARK_L> passage <MARK_R> ⊕ new tokens,
// so at each retrieval the KV cache is cut back to the end of the input (the
// tokens generated so far count as input) and only the last stride's tokens
// and the new passage are computed. The marking tokens are optional, so the
// ablation without them runs too.
#pragma once

#include <optional>

#include "ralm/context_policy.hpp"

namespace ralm::policies {

struct MarkingTokens {
  TokenId left;
  TokenId right;
};

class AppendPolicy final : public ContextPolicy {
 public:
  explicit AppendPolicy(std::optional<MarkingTokens> marks) : marks_(marks) {}

  bool uses_passages() const override { return true; }
  std::unique_ptr<PolicyState> begin(const Tokens& input) override;
  Layout on_retrieval(PolicyState& state, const Tokens& input, const Tokens& generated,
                      std::span<const RetrievedPassage> passages) override;

 private:
  std::optional<MarkingTokens> marks_;
};

}  // namespace ralm::policies
