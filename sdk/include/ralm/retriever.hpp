// The Retriever interface: batched top-k search over a passage store.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ralm/component.hpp"
#include "ralm/types.hpp"

namespace ralm {

// search(), score(), score_batch() and passage() may be called from two
// threads at once: asynchronous speculation verifies with search() on one
// while the request scores its speculative cache on the other.
class Retriever : public Component {
 public:
  static constexpr const char* kKind = "retriever";
  ~Retriever() override;

  // The best k passages for each query, ranked by ranks_before() (higher score
  // first, ties to the lower id). One call for the batch: a retriever that can
  // share work across queries (a dense scan) should.
  virtual std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k) = 0;

  // The score that search() would give each of `ids` for `query`, computed by
  // exactly the same function, in the order of `ids`. A speculative cache ranks
  // its passages with this, so that a cache hit and a real search agree.
  virtual std::vector<float> score(std::string_view query, std::span<const PassageId> ids) = 0;

  // score() for several queries: queries.size() x ids.size(), row-major. The
  // default calls score() once per query; a retriever that encodes queries
  // should encode each once here.
  virtual std::vector<float> score_batch(std::span<const std::string> queries,
                                         std::span<const PassageId> ids);

  // The passage with this id; throws InputError for an id outside the store.
  virtual Passage passage(PassageId id) const = 0;

  // Number of passages in the store.
  virtual std::int64_t size() const = 0;

  // A retriever whose searches other processes answer (an index split over
  // the ranks of an MPI job) says where their time went, so that a run
  // report can tell the network from the search; nullopt (the default) for
  // one that searches in its own process. Cumulative since it was built.
  struct RemoteSearchTimes {
    std::int64_t exchanges = 0;  // batches sent and answered
    double wall_s = 0;           // from sending each batch to holding every answer, summed
    double slowest_shard_s = 0;  // each batch's slowest remote search, summed
  };
  virtual std::optional<RemoteSearchTimes> remote_search_times() const { return std::nullopt; }
};

}  // namespace ralm
