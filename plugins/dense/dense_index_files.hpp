// The dense index on disk, next to the passage store:
//
//   CORPUS/dense-lsa256/              one folder per encoder (index_dir overrides it;
//                                     dense-model, dense-bert-CHECKPOINT_FOLDER_NAME)
//     meta.json                       format, version, corpus checksum, passages,
//                                     encoder fingerprint, dimension
//     encoder/                        the trained encoder (lsa: vocabulary, idf, projection;
//                                     model, bert: the fingerprint only, the weights are
//                                     the pipeline's or the checkpoint folder's)
//     vectors.f32                     passages x dimension floats, passage id order
//     faiss-IVF1024_Flat-ip/          one folder per approximate index and metric
//       meta.json                     the same fingerprint plus the factory string and metric
//       faiss.index                   FAISS's own file
//     shard-S-of-K/                   with shards: K, shard S's file set (shard_files.hpp):
//       meta.json, vectors.f32,       its rows of vectors.f32, and the FAISS index trained
//       faiss-IVF1024_Flat-ip/        above holding only those rows
//
// `index: Flat` needs only the vectors. Each folder is written through a
// StagingDirectory, so an interrupted build leaves nothing behind, and every
// meta.json is checked on opening: an index built for another corpus, encoder
// or index string is refused with the command that rebuilds it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "bert_encoder.hpp"
#include "encoder.hpp"
#include "faiss_index.hpp"
#include "lsa_encoder.hpp"
#include "model_encoder.hpp"
#include "ralm/mapped_file.hpp"
#include "ralm/passage_store.hpp"
#include "shard_files.hpp"

namespace ralm::dense {

inline constexpr const char* kDenseFormat = "ralmkit-dense";
inline constexpr const char* kFaissFormat = "ralmkit-dense-faiss";
inline constexpr int kDenseVersion = 1;

struct DenseIndexSpec {
  std::string encoder = "lsa";  // or "model", "bert"
  LsaOptions lsa;
  std::shared_ptr<Model> model;             // the `model` encoder's model
  std::int64_t max_tokens = 64;             // the `model` encoder's tokens per text
  std::shared_ptr<const BertEncoder> bert;  // the `bert` encoder, loaded (BertEncoder::load)
  std::string index = "Flat";               // a FAISS index_factory string; "Flat" is our own exact scan
  Metric metric = Metric::inner_product;
  std::filesystem::path dir;  // the encoder folder
  int threads = 1;
  // > 1: the index is also cut into this many shard file sets, for shard
  // ranks of an MPI job (shard_files.hpp).
  std::int64_t shards = 1;

  bool exact() const { return index == "Flat"; }
  std::string encoder_fingerprint() const;
  // The default encoder folder name for this spec: "dense-lsa256", "dense-model",
  // "dense-bert-e5-small-v2" (the checkpoint folder's name).
  std::string default_folder_name() const;
  std::filesystem::path faiss_dir() const;
};

// Whether everything the spec needs is on disk (not whether it matches),
// once what killed writers left beside its folders is gone (an index used as
// it stands is not rewritten, so that would stay; writer_leftovers.hpp).
bool dense_index_exists(const DenseIndexSpec& spec);

// Builds what is missing, or everything with `rebuild`: the encoder and the
// vectors, then the FAISS index when the spec asks for one.
void build_dense_index(const PassageStore& store, const DenseIndexSpec& spec, bool rebuild);

struct DenseIndexFiles {
  std::shared_ptr<const Encoder> encoder;
  std::unique_ptr<MappedFile> vectors;  // passages x dim floats
  std::int64_t dim = 0;
  std::unique_ptr<FaissIndex> faiss;  // null for Flat
};

// The shard file sets of this index, spec.shards of them.
ShardSetSpec dense_shard_sets(const PassageStore& store, const DenseIndexSpec& spec);

// Opens and checks the index; a mismatch is an InputError naming the file,
// what differs and the fix.
DenseIndexFiles open_dense_index(const PassageStore& store, const DenseIndexSpec& spec);

}  // namespace ralm::dense
