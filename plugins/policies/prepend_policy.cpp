#include "prepend_policy.hpp"

namespace ralm::policies {
namespace {

class PrependState final : public PolicyState {
 public:
  std::unique_ptr<PolicyState> clone() const override { return std::make_unique<PrependState>(*this); }
  std::vector<PassageId> passages;  // those of the current layout
  bool started = false;
};

}  // namespace

std::unique_ptr<PolicyState> PrependPolicy::begin(const Tokens&) {
  return std::make_unique<PrependState>();
}

Layout PrependPolicy::on_retrieval(PolicyState& base, const Tokens& input, const Tokens& generated,
                                   std::span<const RetrievedPassage> passages) {
  auto& state = static_cast<PrependState&>(base);
  std::vector<PassageId> ids;
  for (const auto& p : passages)
    ids.push_back(p.hit.id);
  const bool unchanged = state.started && ids == state.passages;
  state.passages = ids;
  state.started = true;

  Layout layout;
  const bool has_bos = bos_ && !input.empty() && input.front() == *bos_;
  if (has_bos) layout.tokens.push_back(*bos_);
  // With several passages, the best ends up nearest the input.
  for (auto it = passages.rbegin(); it != passages.rend(); ++it) {
    layout.tokens.insert(layout.tokens.end(), it->tokens.begin(), it->tokens.end());
  }
  // BOS and the passages are the same for every request that retrieves
  // these passages; a lone BOS is not worth a cached sequence.
  if (!passages.empty()) layout.shared_prefix = static_cast<std::int32_t>(layout.tokens.size());
  layout.tokens.insert(layout.tokens.end(), input.begin() + (has_bos ? 1 : 0), input.end());
  layout.tokens.insert(layout.tokens.end(), generated.begin(), generated.end());
  layout.reusable_prefix = reuse_unchanged_ && unchanged ? INT32_MAX : 0;
  return layout;
}

}  // namespace ralm::policies
