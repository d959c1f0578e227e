#include "none_policy.hpp"

namespace ralm::policies {
namespace {
class NoState final : public PolicyState {
 public:
  std::unique_ptr<PolicyState> clone() const override { return std::make_unique<NoState>(); }
};
}  // namespace

std::unique_ptr<PolicyState> NonePolicy::begin(const Tokens&) {
  return std::make_unique<NoState>();
}

// The layout never changes shape, so the whole cache always survives.
Layout NonePolicy::on_retrieval(PolicyState&, const Tokens& input, const Tokens& generated,
                                std::span<const RetrievedPassage>) {
  Layout layout;
  layout.tokens.reserve(input.size() + generated.size());
  layout.tokens.insert(layout.tokens.end(), input.begin(), input.end());
  layout.tokens.insert(layout.tokens.end(), generated.begin(), generated.end());
  return layout;
}

}  // namespace ralm::policies
