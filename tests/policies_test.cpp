// The `none` policy: the layout is the input followed by what was generated,
// and nothing stops the engine from reusing the whole cache.
#include <gtest/gtest.h>

#include "none_policy.hpp"

namespace {

TEST(NonePolicy, LayoutIsInputThenGeneratedWithFullReuse) {
  ralm::policies::NonePolicy policy;
  EXPECT_FALSE(policy.uses_passages());
  EXPECT_FALSE(policy.adjusts_logits());
  const ralm::Tokens input = {1, 5, 9}, generated = {4, 2};
  auto state = policy.begin(input);
  const std::vector<ralm::RetrievedPassage> passages = {{{3, 1.0f}, {7, 7, 7}}};
  const ralm::Layout layout = policy.on_retrieval(*state, input, generated, passages);
  EXPECT_EQ(layout.tokens, (ralm::Tokens{1, 5, 9, 4, 2}));
  EXPECT_EQ(layout.reusable_prefix, INT32_MAX);
  auto copy = state->clone();
  EXPECT_NE(copy.get(), nullptr);
}

}  // namespace
