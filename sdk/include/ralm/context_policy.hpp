// The ContextPolicy interface: how retrieved passages enter the computation.
//
// A policy states the token layout it wants the model to have seen; the
// engine keeps the longest prefix of the sequence's KV cache that agrees with
// that layout (bounded by Layout::reusable_prefix) and evaluates the rest. So
// prepend (In-Context RALM) reuses nothing, append (FlashBack) reuses the
// input, and a policy never touches the cache itself. A policy also says how
// many leading tokens of its layout any request would share
// (Layout::shared_prefix), which an engine with a prefix cache computes once
// for all its requests. A policy that changes the next-token distribution
// (kNN-LM) does so in adjust_logits().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ralm/component.hpp"
#include "ralm/neighbour_search.hpp"
#include "ralm/types.hpp"

namespace ralm {

// A passage as the engine hands it to a policy: already tokenized and
// truncated to the engine's max_passage_tokens.
struct RetrievedPassage {
  Hit hit;
  Tokens tokens;
};

// A policy's per-request state. Speculation checkpoints it with clone() before
// a speculative step and restores the copy when the step is rolled back.
class PolicyState {
 public:
  virtual ~PolicyState();
  virtual std::unique_ptr<PolicyState> clone() const = 0;
};

// The state of a policy that keeps none between steps (`none`, `knnlm`).
class NoPolicyState final : public PolicyState {
 public:
  std::unique_ptr<PolicyState> clone() const override { return std::make_unique<NoPolicyState>(); }
};

struct Layout {
  // Every token the model should have seen, in order, before the next one is
  // decoded.
  Tokens tokens;
  // At most this many leading tokens of the existing KV cache may be kept even
  // if they match `tokens` (In-Context RALM recomputes everything: 0). The
  // engine keeps min(reusable_prefix, longest common prefix).
  std::int32_t reusable_prefix = INT32_MAX;
  // The leading tokens that do not depend on the request (BOS and the
  // passages for prepend): their keys and values are the same for every
  // request with this layout start, so the engine may keep them in a prefix
  // cache shared by its requests and start a later layout from a copy. 0:
  // nothing worth sharing. Exact whatever `reusable_prefix` says, since a
  // position's keys and values depend only on the tokens up to it.
  std::int32_t shared_prefix = 0;
};

// The layout of a policy that puts no passage in the text: the input, then
// what was generated, so the whole KV cache always survives.
inline Layout text_only_layout(const Tokens& input, const Tokens& generated) {
  Layout layout;
  layout.tokens.reserve(input.size() + generated.size());
  layout.tokens.insert(layout.tokens.end(), input.begin(), input.end());
  layout.tokens.insert(layout.tokens.end(), generated.begin(), generated.end());
  return layout;
}

class ContextPolicy : public Component {
 public:
  static constexpr const char* kKind = "policy";
  ~ContextPolicy() override;

  // False for policies that never look at passages (`none`): the engine then
  // skips retrieval altogether.
  virtual bool uses_passages() const = 0;

  // Starts a request whose prompt is `input`.
  virtual std::unique_ptr<PolicyState> begin(const Tokens& input) = 0;

  // The layout after a retrieval at the point where `generated` tokens have
  // been produced, with the passages just retrieved (best first; empty for
  // the first step of a policy that retrieves later).
  virtual Layout on_retrieval(PolicyState& state, const Tokens& input, const Tokens& generated,
                              std::span<const RetrievedPassage> passages) = 0;

  // True if adjust_logits() changes anything; the engine then asks the model
  // for key vectors at every position.
  virtual bool adjusts_logits() const { return false; }

  // Rewrites one position's next-token logits in place, given that position's
  // key vector (kNN-LM's interpolation). The default leaves them alone.
  virtual void adjust_logits(PolicyState& state, std::span<float> logits, std::span<const float> key);

  // The search behind adjust_logits(), when the engine may speculate it; null
  // (the default) when it may not. Only for policies whose state does not
  // change in adjust_logits().
  virtual const NeighbourSearch* neighbour_search() const { return nullptr; }
};

}  // namespace ralm
