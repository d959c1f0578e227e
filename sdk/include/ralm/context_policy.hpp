// The ContextPolicy interface: how retrieved passages enter the computation.
//
// A policy states the token layout it wants the model to have seen; the
// engine keeps the longest prefix of the sequence's KV cache that agrees with
// that layout (bounded by Layout::reusable_prefix) and evaluates the rest. So
// prepend (In-Context RALM) reuses nothing, append (FlashBack) reuses the
// input, and a policy never touches the cache itself. A policy that changes
// the next-token distribution (kNN-LM) does so in adjust_logits().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ralm/component.hpp"
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
};

// The search behind a policy's adjust_logits() (kNN-LM's datastore lookup),
// exposed so that the engine can take it off the critical path: RaLMSpec's
// speculative kNN-LM guesses each position's neighbours from a per-request
// cache of entries, adjusts the logits with them, and verifies several
// positions with one batched search(), keeping a position when the token it
// chose is the one the true neighbours give.
//
// Every method is const and must be safe to call from two threads at once:
// the engine verifies on a second thread while it speculates on the first.
// The layout of a policy that puts no passage in the text: the input, then
// what was generated, so the whole KV cache always survives.
inline Layout text_only_layout(const Tokens& input, const Tokens& generated) {
  Layout layout;
  layout.tokens.reserve(input.size() + generated.size());
  layout.tokens.insert(layout.tokens.end(), input.begin(), input.end());
  layout.tokens.insert(layout.tokens.end(), generated.begin(), generated.end());
  return layout;
}

class NeighbourSearch {
 public:
  virtual ~NeighbourSearch();

  // The best k neighbours of each key, best first: `keys` holds
  // keys.size() / key_dim() keys of width key_dim(), back to back. The
  // neighbours adjust_logits() uses are the first top_k() for any k >=
  // top_k() (more feed the speculative cache), and a key's answer does not
  // depend on the others in the batch.
  virtual std::vector<std::vector<Hit>> search(std::span<const float> keys, std::int64_t k) const = 0;
  virtual std::int64_t key_dim() const = 0;
  // How many neighbours search() returns per key (fewer when it finds fewer).
  virtual std::int64_t top_k() const = 0;
  // The score of each entry in `ids` for `key`, computed by the function
  // search() ranks by (the same bits), so the best of a cached set ranks as
  // search() would rank it.
  virtual std::vector<float> score(std::span<const float> key, std::span<const PassageId> ids) const = 0;
  // The entries worth caching after a search found `id`: the next `n`
  // entries of the corpus after it (kNN-LM's successors), fewer at a
  // passage's end.
  virtual std::vector<PassageId> successors(PassageId id, std::int32_t n) const = 0;
  // Rewrites one position's logits given its neighbours (best first):
  // adjust_logits() is this applied to search()'s answer.
  virtual void adjust_with(std::span<float> logits, std::span<const Hit> neighbours) const = 0;
};

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
