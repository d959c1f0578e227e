#include "append_policy.hpp"

namespace ralm::policies {
namespace {

// The layout is a function of the input, the tokens generated and the
// passages, so there is nothing to remember between retrievals.
class AppendState final : public PolicyState {
 public:
  std::unique_ptr<PolicyState> clone() const override { return std::make_unique<AppendState>(); }
};

}  // namespace

std::unique_ptr<PolicyState> AppendPolicy::begin(const Tokens&) {
  return std::make_unique<AppendState>();
}

Layout AppendPolicy::on_retrieval(PolicyState&, const Tokens& input, const Tokens& generated,
                                  std::span<const RetrievedPassage> passages) {
  Layout layout;
  layout.tokens = input;
  layout.tokens.insert(layout.tokens.end(), generated.begin(), generated.end());
  // With several passages, the best ends up nearest the tokens that follow.
  for (auto it = passages.rbegin(); it != passages.rend(); ++it) {
    if (marks_) layout.tokens.push_back(marks_->left);
    layout.tokens.insert(layout.tokens.end(), it->tokens.begin(), it->tokens.end());
    if (marks_) layout.tokens.push_back(marks_->right);
  }
  // Everything up to the end of input ⊕ generated agrees with the previous
  // layout; the engine keeps exactly that much of the cache.
  return layout;
}

}  // namespace ralm::policies
