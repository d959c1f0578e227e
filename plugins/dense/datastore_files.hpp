// kNN-LM's datastore on disk: for every token position of a passage store
// (passage by passage, a beginning-of-sequence token first), the model's key
// at that position and the value, the token that follows it.
//
//   CORPUS/knnlm-<model>/            one folder per model (the policy's `datastore` overrides it)
//     meta.json                      format, version, corpus checksum, model fingerprint and
//                                    probe, key width, entries, which passages went in
//     keys.f32                       entries x key_dim floats, corpus order
//     values.i32                     entries token ids: the token after each key
//     successors.i64                 entries ids: the entry of the next position of the same
//                                    passage, -1 at a passage's end (speculative kNN-LM's cache)
//     faiss-IVF256_PQ32-l2/          one folder per approximate index and metric
//       meta.json, faiss.index
//     shard-S-of-K/                  with shards: K, shard S's file set (shard_files.hpp):
//       meta.json, keys.f32,         its rows of keys.f32, and the FAISS index trained
//       faiss-IVF256_PQ32-l2/        above holding only those rows
//
// The keys are what ModelInfo::key_dim says: the input of the last layer's
// feed-forward block after its norm (EvalOptions::keys), which the engine
// hands ContextPolicy::adjust_logits at generation and perplexity time.
//
// Nothing in the Model interface identifies weights, so the fingerprint is
// the model's shape plus a probe: the first key values of a fixed token
// sequence, compared with a tolerance (threads may change the last bits). A
// datastore built with other weights of the same shape is refused.
//
// Each folder is written through a StagingDirectory, so an interrupted build
// leaves nothing behind.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "faiss_index.hpp"
#include "ralm/mapped_file.hpp"
#include "ralm/model.hpp"
#include "ralm/passage_store.hpp"
#include "shard_files.hpp"

namespace ralm::dense {

inline constexpr const char* kDatastoreFormat = "ralmkit-knnlm-datastore";
inline constexpr const char* kDatastoreFaissFormat = "ralmkit-knnlm-faiss";
inline constexpr int kDatastoreVersion = 1;

struct DatastoreSpec {
  std::shared_ptr<Model> model;
  std::filesystem::path dir;  // the datastore folder
  // Tokens of each passage the model reads (a beginning-of-sequence token
  // first), at most the model's context length.
  std::int64_t max_tokens = 512;
  // Passages whose document d has d % step == 0 are left out (0: none): the
  // perplexity task's held-out documents (task.document_step), so kNN-LM is
  // never scored on text its datastore holds.
  std::int64_t exclude_document_step = 0;
  // Documents d with fnv1a64(d) % 1000 < permille are left out (0: none):
  // the validation split of `ralm train` at the same validation_permille, so a
  // model's held-out documents stay out of its datastore too.
  std::int64_t exclude_validation_permille = 0;
  // The first this many passages that are not left out (0: all of them).
  std::int64_t max_passages = 0;
  std::string index = "Flat";  // a FAISS index_factory string; "Flat" is the exact scan
  Metric metric = Metric::l2;
  int threads = 1;
  // > 1: the keys are also cut into this many shard file sets, for shard
  // ranks of an MPI job (shard_files.hpp).
  std::int64_t shards = 1;

  bool exact() const { return index == "Flat"; }
  std::filesystem::path faiss_dir() const;
  // "knnlm-llama-k256-<hash of the model fingerprint and probe>".
  std::string default_folder_name() const;
};

// The model's shape as text, and its probe (see above).
std::string model_fingerprint(const Model& model);
std::vector<float> model_probe(Model& model);

// Whether everything the spec needs is on disk (not whether it matches),
// once what killed writers left beside its folders is gone (an index used as
// it stands is not rewritten, so that would stay; writer_leftovers.hpp).
bool datastore_exists(const DatastoreSpec& spec);

// Builds what is missing, or everything with `rebuild`: the entries, then the
// FAISS index when the spec asks for one.
void build_datastore(const PassageStore& store, const DatastoreSpec& spec, bool rebuild);

struct Datastore {
  std::int64_t entries = 0;
  std::int64_t key_dim = 0;
  std::unique_ptr<MappedFile> keys;        // entries x key_dim floats
  std::unique_ptr<MappedFile> values;      // entries int32
  std::unique_ptr<MappedFile> successors;  // entries int64
  std::unique_ptr<FaissIndex> faiss;       // null for Flat

  const float* key_rows() const { return reinterpret_cast<const float*>(keys->bytes()); }
  TokenId value(std::int64_t entry) const {
    return values->at<std::int32_t>(static_cast<std::size_t>(entry));
  }
  std::int64_t successor(std::int64_t entry) const {
    return successors->at<std::int64_t>(static_cast<std::size_t>(entry));
  }
};

// The shard file sets of the datastore's keys, spec.shards of them.
ShardSetSpec datastore_shard_sets(const PassageStore& store, const DatastoreSpec& spec);

// Opens and checks the datastore against the corpus and the model; a
// mismatch is an InputError naming the file, what differs and the fix.
Datastore open_datastore(const PassageStore& store, const DatastoreSpec& spec);

}  // namespace ralm::dense
