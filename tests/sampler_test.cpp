// The sampler: greedy picks the lowest id among equal maxima; sampling is
// deterministic for a seed, follows the softmax at its temperature, and top-k
// and top-p keep exactly the tokens they should.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "ralm/core/engine/sampler.hpp"
#include "ralm/error.hpp"

namespace {

using namespace ralm;
using core::Sampler;
using core::SamplingSettings;

SamplingSettings sampling(double temperature, std::int32_t top_k = 0, double top_p = 1,
                          std::uint64_t seed = 7) {
  SamplingSettings s;
  s.temperature = temperature;
  s.top_k = top_k;
  s.top_p = top_p;
  s.seed = seed;
  return s;
}

// Draw counts over `draws` samples.
std::map<TokenId, int> counts(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::map<TokenId, int> c;
  for (int i = 0; i < draws; ++i)
    ++c[sampler.sample(logits)];
  return c;
}

TEST(Sampler, GreedyTakesTheLowestIdAmongEqualMaxima) {
  EXPECT_EQ(core::greedy_token(std::vector<float>{0.5f, 2.f, -1.f, 2.f}), 1);
  Sampler greedy(sampling(0));
  EXPECT_EQ(greedy.sample(std::vector<float>{3.f, 3.f}), 0);
  EXPECT_THROW(core::greedy_token({}), Error);
}

TEST(Sampler, DeterministicForASeed) {
  std::vector<float> logits(50);
  for (std::size_t i = 0; i < logits.size(); ++i)
    logits[i] = static_cast<float>(std::sin(static_cast<double>(i)));
  for (const auto& s : {sampling(1.0), sampling(0.7, 10), sampling(1.3, 0, 0.9), sampling(1.0, 20, 0.5)}) {
    Sampler a(s), b(s);
    std::vector<TokenId> first, second;
    for (int i = 0; i < 200; ++i) {
      first.push_back(a.sample(logits));
      second.push_back(b.sample(logits));
    }
    EXPECT_EQ(first, second);
    // A copy continues the same stream: the checkpoint speculation needs.
    Sampler saved = a;
    const TokenId next = a.sample(logits);
    EXPECT_EQ(saved.sample(logits), next);
  }
  // Another seed, another stream.
  Sampler a(sampling(1.0, 0, 1, 1)), b(sampling(1.0, 0, 1, 2));
  int differ = 0;
  for (int i = 0; i < 100; ++i)
    differ += a.sample(logits) != b.sample(logits);
  EXPECT_GT(differ, 50);
}

TEST(Sampler, FollowsTheSoftmaxAtItsTemperature) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  const int draws = 20000;
  Sampler plain(sampling(1.0));
  auto c = counts(plain, logits, draws);
  EXPECT_NEAR(c[0] / double(draws), 0.5, 0.02);
  EXPECT_NEAR(c[1] / double(draws), 0.3, 0.02);
  EXPECT_NEAR(c[2] / double(draws), 0.2, 0.02);
  // Temperature 0.5 squares the probabilities: 25 : 9 : 4.
  Sampler cold(sampling(0.5));
  c = counts(cold, logits, draws);
  EXPECT_NEAR(c[0] / double(draws), 25.0 / 38, 0.02);
  EXPECT_NEAR(c[2] / double(draws), 4.0 / 38, 0.02);
}

TEST(Sampler, TopKAndTopPKeepTheRightTokens) {
  const std::vector<float> logits = {std::log(0.2f), std::log(0.5f), std::log(0.1f), std::log(0.2f)};
  Sampler k2(sampling(1.0, 2));
  auto c = counts(k2, logits, 4000);
  // The two most likely: 1, and 0 (tied with 3, lower id), renormalised 5 : 2.
  EXPECT_EQ(c.size(), 2u);
  EXPECT_NEAR(c[1] / 4000.0, 5.0 / 7, 0.03);
  EXPECT_EQ(c.count(3), 0u);
  // top_p 0.6: 0.5 is short of it, 0.5 + 0.2 reaches it: tokens 1 and 0.
  Sampler p6(sampling(1.0, 0, 0.6));
  c = counts(p6, logits, 4000);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.count(0), 1u);
  // top_k 1 and a tiny top_p are greedy.
  Sampler k1(sampling(2.0, 1)), p0(sampling(2.0, 0, 1e-6));
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(k1.sample(logits), 1);
    EXPECT_EQ(p0.sample(logits), 1);
  }
}

TEST(Sampler, BadSettings) {
  EXPECT_THROW(Sampler(sampling(-1)), InputError);
  EXPECT_THROW(Sampler(sampling(NAN)), InputError);
  EXPECT_THROW(Sampler(sampling(1, -1)), InputError);
  EXPECT_THROW(Sampler(sampling(1, 0, 0)), InputError);
  EXPECT_THROW(Sampler(sampling(1, 0, 1.5)), InputError);
  Sampler s(sampling(1));
  EXPECT_THROW(s.sample({}), Error);
}

}  // namespace
