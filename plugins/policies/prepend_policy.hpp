// In-Context RALM (Ram et al. 2023): the retrieved passages go before the
// input, replacing the previous ones, so the whole context is recomputed at
// every retrieval. With `reuse_unchanged`, a retrieval that returns the same
// passages keeps the cache: a free win the paper never took.
#pragma once

#include <optional>

#include "ralm/context_policy.hpp"

namespace ralm::policies {

class PrependPolicy final : public ContextPolicy {
 public:
  // `bos`: kept first, before the passages, when the input starts with it.
  PrependPolicy(std::optional<TokenId> bos, bool reuse_unchanged)
      : bos_(bos), reuse_unchanged_(reuse_unchanged) {}

  bool uses_passages() const override { return true; }
  std::unique_ptr<PolicyState> begin(const Tokens& input) override;
  Layout on_retrieval(PolicyState& state, const Tokens& input, const Tokens& generated,
                      std::span<const RetrievedPassage> passages) override;

 private:
  std::optional<TokenId> bos_;
  bool reuse_unchanged_;
};

}  // namespace ralm::policies
