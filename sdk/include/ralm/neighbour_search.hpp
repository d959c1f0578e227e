// The NeighbourSearch interface: a search keyed by the model's own vectors,
// not by text, behind a ContextPolicy that changes the next-token
// distribution (kNN-LM).
//
// The search behind a policy's adjust_logits() (kNN-LM's datastore lookup),
// exposed so that the engine can take it off the critical path: RaLMSpec's
// speculative kNN-LM guesses each position's neighbours from a per-request
// cache of entries, adjusts the logits with them, and verifies several
// positions with one batched search(), keeping a position when the token it
// chose is the one the true neighbours give.
//
// Every method is const and must be safe to call from two threads at once:
// the engine verifies on a second thread while it speculates on the first.
//
// It is the policy's, not a pipeline section of its own: its keys are the
// model's vectors at the layer the policy chose, and its answer means
// something only to the interpolation the policy runs (adjust_with()). A
// Retriever takes text and returns passages for a layout; this takes keys and
// returns datastore entries for one position's distribution.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ralm/types.hpp"

namespace ralm {

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

}  // namespace ralm
