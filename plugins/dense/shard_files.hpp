// The per-shard file sets of a dense index or kNN-LM datastore, for `shards:
// K` over the ranks of an MPI job (mpi_shards.hpp). Inside the index (or
// datastore) folder, one folder per shard:
//
//   shard-S-of-K/                   rows shard_rows(n, K, S) of the folder's rows file
//     meta.json                     format, the owner's identity (corpus checksum, encoder
//                                   or model...), shard S of K, first row, rows, dimension,
//                                   and the sample checksum of the whole rows file
//     vectors.f32 | keys.f32        its rows, in the owner's order
//     faiss-IVF256_Flat-ip/         one folder per approximate index, as the owner's:
//       meta.json, faiss.index      the owner's trained index (coarse quantizer, PQ
//                                   codebooks) holding only this shard's rows, ids local
//
// Each shard is a file set of today's format over its row range, so that a
// machine that serves shard S needs only shard-S-of-K/. The approximate
// index of every shard shares the owner's training (FaissIndex::
// write_sharing_training): an IVF search with the same nprobe probes the same
// lists on every shard, and PQ codes are the same, so the merged top k is the
// unsharded index's. Each folder is written through a StagingDirectory; the
// shard sets live inside the owner's folder, so rebuilding it replaces them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "faiss_index.hpp"
#include "ralm/mapped_file.hpp"

namespace ralm::dense {

inline constexpr const char* kShardFormat = "ralmkit-dense-shard";

struct ShardSetSpec {
  std::filesystem::path dir;  // the owner's folder (index or datastore)
  std::string rows_file;      // "vectors.f32" or "keys.f32"
  // What the owner's meta.json says the rows are of (corpus checksum,
  // encoder or model, ...): written into every shard's meta.json and
  // compared on opening.
  nlohmann::json identity;
  std::string rebuild_hint;  // how to rebuild the shard sets
  std::int64_t shards = 1;
  // The approximate index (empty: Flat) and its folder's name in the owner's
  // folder ("faiss-IVF256_Flat-ip").
  std::string index;
  std::string faiss_folder;

  std::filesystem::path shard_dir(std::int64_t shard) const;
};

// The shard sets' folders and files of an index or datastore spec (dir,
// shards, exact(), index, faiss_dir()), all but their identity, which needs
// the corpus or the model: enough to tell whether they exist.
template <class Spec>
ShardSetSpec shard_layout(const Spec& spec, std::string rows_file, const std::string& build_command) {
  ShardSetSpec sets;
  sets.dir = spec.dir;
  sets.rows_file = std::move(rows_file);
  sets.rebuild_hint = "build them with `" + build_command +
                      "` (--force to rebuild) with shards: " + std::to_string(spec.shards) +
                      " in the pipeline";
  sets.shards = spec.shards;
  if (!spec.exact()) {
    sets.index = spec.index;
    sets.faiss_folder = spec.faiss_dir().filename().string();
  }
  return sets;
}

// Rows [first, first + count) of n held by shard `shard` of `shards`.
std::pair<std::int64_t, std::int64_t> shard_rows(std::int64_t n, std::int64_t shards, std::int64_t shard);

// A checksum of n x dim rows from 64 evenly spaced rows, cheap enough to take
// at every opening: rank 0 scores the speculative cache's rows from its own
// copy, which must be the copy the shard sets were cut from.
std::uint64_t rows_sample_checksum(const float* rows, std::int64_t n, std::int64_t dim);

// Whether every shard's folders (and its approximate index's) exist, once
// what killed writers left is gone.
bool shard_sets_exist(const ShardSetSpec& spec);

// Writes what is missing (everything with `rebuild`): each shard's rows of
// `rows` (n x dim), and, with an approximate index, `trained`'s training
// with only that shard's rows in it.
void build_shard_sets(const ShardSetSpec& spec, const float* rows, std::int64_t n, std::int64_t dim,
                      const FaissIndex* trained, int threads, bool rebuild);

struct ShardFiles {
  std::int64_t first_row = 0, rows = 0, dim = 0;
  std::uint64_t sample_checksum = 0;  // of the whole rows file the shard was cut from
  std::unique_ptr<MappedFile> vectors;
  std::unique_ptr<FaissIndex> faiss;  // null for Flat
  const float* data() const { return reinterpret_cast<const float*>(vectors->bytes()); }
};

// Opens and checks shard `shard`'s file set; a missing set, or one of
// another corpus, encoder, shard count or index, is an InputError naming the
// file and the fix.
ShardFiles open_shard(const ShardSetSpec& spec, std::int64_t shard);

}  // namespace ralm::dense
