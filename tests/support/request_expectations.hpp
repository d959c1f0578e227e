// What "a speculative request equals its baseline" means in the speculation
// tests: the same output tokens, and the same retrievals (position, query
// and hits, scores included) in the same order.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "ralm/core/engine/request_result.hpp"

namespace ralm::test {

inline void expect_same_request(const core::RequestResult& spec, const core::RequestResult& base,
                                const std::string& where) {
  ASSERT_EQ(spec.output, base.output) << where;
  ASSERT_EQ(spec.retrievals.size(), base.retrievals.size()) << where;
  for (std::size_t i = 0; i < base.retrievals.size(); ++i) {
    EXPECT_EQ(spec.retrievals[i].position, base.retrievals[i].position) << where;
    EXPECT_EQ(spec.retrievals[i].query, base.retrievals[i].query) << where;
    EXPECT_EQ(spec.retrievals[i].hits, base.retrievals[i].hits) << where << " retrieval " << i;
  }
}

}  // namespace ralm::test
