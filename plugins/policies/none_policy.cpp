#include "none_policy.hpp"

namespace ralm::policies {

std::unique_ptr<PolicyState> NonePolicy::begin(const Tokens&) {
  return std::make_unique<NoPolicyState>();
}

Layout NonePolicy::on_retrieval(PolicyState&, const Tokens& input, const Tokens& generated,
                                std::span<const RetrievedPassage>) {
  return text_only_layout(input, generated);
}

}  // namespace ralm::policies
