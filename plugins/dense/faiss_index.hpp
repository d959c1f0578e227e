// An approximate index from FAISS, kept behind this class so that no FAISS
// type leaves faiss_index.cpp: FAISS is a static library linked into this
// plugin only, its symbols hidden inside it (--exclude-libs), so neither the
// core nor another plugin depends on FAISS or on the version this plugin was
// built with. The index proposes candidates; the retriever ranks them by the
// exact scan's scores (dense_retriever.hpp says why).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "scan_kernels.hpp"

namespace faiss {
struct Index;
}

namespace ralm::dense {

// Throws InputError (with FAISS's reason) when `factory` is not an
// index_factory string FAISS accepts for this dimension and metric.
void check_factory_string(const std::string& factory, std::int64_t dim, Metric metric);

// Sets FAISS's OpenMP threads for the calling thread and pins OpenBLAS's own
// pool to one thread (Debian's pthread OpenBLAS under FAISS's OpenMP would
// otherwise run threads x threads); logs the layout once.
void set_faiss_threads(int threads);

class FaissIndex {
 public:
  // Builds the index over `vectors` (n x dim): trains it when it needs
  // training, on all of them or on `max_train` evenly spaced ones (FAISS's
  // k-means samples 256 per centroid itself), adds them in chunks with
  // progress, and writes it to `file` (nothing written when `file` is empty).
  static std::unique_ptr<FaissIndex> build(const std::filesystem::path& file, const std::string& factory,
                                           Metric metric, const float* vectors, std::int64_t n,
                                           std::int64_t dim, int threads, std::int64_t max_train = 0);

  explicit FaissIndex(const std::filesystem::path& file);
  explicit FaissIndex(std::unique_ptr<faiss::Index> index);
  ~FaissIndex();
  FaissIndex(const FaissIndex&) = delete;
  FaissIndex& operator=(const FaissIndex&) = delete;

  std::int64_t size() const;
  std::int64_t dim() const;

  // Writes to `file` an index with this one's training (an IVF's coarse
  // quantizer, PQ codebooks) holding only `rows` (count x dim, ids 0..count-1):
  // one shard of this index (shard_files.hpp). Trained once over all the
  // vectors, every shard assigns a vector to the list and code this index
  // does. An index without trained parts (Flat storage, HNSW) is rebuilt
  // over the rows alone.
  void write_sharing_training(const std::filesystem::path& file, const float* rows, std::int64_t count,
                              int threads) const;
  // nprobe for an IVF index and efSearch for an HNSW one (0 keeps FAISS's
  // value); a parameter the index has no use for is ignored. Returns a
  // description of what was set, for the log.
  std::string set_search_parameters(std::int64_t nprobe, std::int64_t ef_search);

  // Whether the index ranks candidates by distances to the full vectors
  // (Flat storage: IVF...,Flat, HNSW...,Flat, IDMap,Flat) rather than by
  // estimates from compressed codes (PQ, SQ, ...), whose candidates need a
  // deeper exact rescoring (DenseRetriever::kMinCompressedCandidates).
  bool exact_distances() const;

  // Up to `k` candidate ids per query (nq x k, -1 where the index found fewer).
  std::vector<std::int64_t> search(const float* queries, std::int64_t nq, std::int64_t k, int threads) const;

  // An IVF index whose lists hold the vectors whole (IVF…,Flat, flat coarse
  // quantizer): its centroids and lists, so that a batch of queries can be
  // scanned list by list (ivf_flat_scan.hpp). Empty for any other index.
  struct FlatLists {
    std::int64_t nlist = 0;
    const float* centroids = nullptr;  // nlist x dim
    std::vector<const std::int64_t*> ids;
    std::vector<const float*> vectors;
    std::vector<std::int64_t> sizes;
  };
  std::optional<FlatLists> flat_lists() const;
  // An IVF index's nprobe (as set_search_parameters left it); 0 otherwise.
  std::int64_t nprobe() const;

 private:
  std::unique_ptr<faiss::Index> index_;
};

}  // namespace ralm::dense
