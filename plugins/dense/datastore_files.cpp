#include "datastore_files.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "index_meta.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/progress.hpp"
#include "ralm/staging_directory.hpp"
#include "ralm/writer_leftovers.hpp"

namespace ralm::dense {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kRebuildDatastore =
    "rebuild it with `ralm datastore build PIPELINE --force` (or delete the folder)";
constexpr std::size_t kProbeValues = 8;

json read_datastore_meta(const fs::path& file) {
  return read_index_meta(file, kRebuildDatastore);
}

void expect_datastore_field(const fs::path& file, const json& meta, const std::string& key,
                            const json& wanted, const std::string& what,
                            const std::string& holder = "the pipeline asks for") {
  expect_index_meta(file, meta, key, wanted, what, kRebuildDatastore, holder);
}

bool probes_agree(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > 1e-3f * (1.0f + std::abs(b[i]))) return false;
  return true;
}

void check_common(const fs::path& file, const json& meta, const char* format, const PassageStore& store,
                  const DatastoreSpec& spec, const std::string& fingerprint,
                  const std::vector<float>& probe) {
  const std::string corpus = "the pipeline's corpus " + store.dir().string() + " has";
  expect_datastore_field(file, meta, "format", format, "format");
  expect_datastore_field(file, meta, "version", kDatastoreVersion, "format version");
  expect_datastore_field(file, meta, "corpus_checksum", store.manifest().checksum, "the corpus checksum",
                         corpus);
  expect_datastore_field(file, meta, "model", fingerprint, "the model", "the pipeline's model is");
  if (!meta.contains("probe") || !probes_agree(meta.at("probe").get<std::vector<float>>(), probe)) {
    throw InputError(file.string() +
                     ": built with other weights of this model's shape (its probe keys differ from the "
                     "pipeline model's); " +
                     kRebuildDatastore);
  }
  expect_datastore_field(file, meta, "max_tokens", spec.max_tokens, "max_tokens");
  expect_datastore_field(file, meta, "exclude_document_step", spec.exclude_document_step,
                         "exclude_document_step");
  expect_datastore_field(file, meta, "exclude_validation_permille", spec.exclude_validation_permille,
                         "exclude_validation_permille");
  expect_datastore_field(file, meta, "max_passages", spec.max_passages, "max_passages");
}

bool included(const PassageStore& store, const DatastoreSpec& spec, PassageId id) {
  const std::int64_t doc = store.document(id);
  if (spec.exclude_document_step > 0 && doc % spec.exclude_document_step == 0) return false;
  return spec.exclude_validation_permille <= 0 ||
         static_cast<std::int64_t>(fnv1a64(&doc, sizeof doc) % 1000) >= spec.exclude_validation_permille;
}

void build_entries(const PassageStore& store, const DatastoreSpec& spec, bool rebuild) {
  Model& model = *spec.model;
  const ModelInfo info = model.info();
  const auto key_dim = static_cast<std::int64_t>(info.key_dim);
  if (key_dim <= 0) throw InputError("the pipeline's model gives no kNN-LM keys (its key_dim is 0)");
  const auto limit = static_cast<std::size_t>(
      std::max<std::int64_t>(2, std::min<std::int64_t>(spec.max_tokens, std::max(info.context_length, 2))));
  std::vector<PassageId> ids;
  for (PassageId id = 0; id < store.size(); ++id) {
    if (!included(store, spec, id)) continue;
    if (spec.max_passages > 0 && static_cast<std::int64_t>(ids.size()) >= spec.max_passages) break;
    ids.push_back(id);
  }
  if (ids.empty()) throw InputError(store.dir().string() + ": no passages left for the datastore");

  StagingDirectory staging(spec.dir, rebuild);
  std::ofstream keys(staging.path() / "keys.f32", std::ios::binary);
  std::vector<std::int32_t> values;
  std::vector<std::int64_t> successors;
  const Tokenizer& tok = model.tokenizer();
  // Sequences per eval_batch call: enough to share the weights' pass, few
  // enough to keep the KV caches small.
  constexpr std::size_t kBatch = 8;
  Progress progress("knnlm: datastore", static_cast<std::int64_t>(ids.size()), "passages");
  for (std::size_t first = 0; first < ids.size(); first += kBatch) {
    const std::size_t n = std::min(kBatch, ids.size() - first);
    std::vector<Tokens> tokens(n);
    std::vector<std::unique_ptr<Sequence>> seqs;
    std::vector<Sequence*> seq_ptrs;
    std::vector<std::span<const TokenId>> spans;
    for (std::size_t i = 0; i < n; ++i) {
      const PassageId id = ids[first + i];
      tokens[i] = tok.encode(std::string(store.title(id)) + "\n" + std::string(store.text(id)), true);
      if (tokens[i].size() > limit) tokens[i].resize(limit);
      seqs.push_back(model.new_sequence());
      seq_ptrs.push_back(seqs.back().get());
      spans.emplace_back(tokens[i]);
    }
    const std::vector<EvalResult> results = model.eval_batch(seq_ptrs, spans, {.keys = true});
    for (std::size_t i = 0; i < n; ++i) {
      const EvalResult& r = results[i];
      const auto rows = static_cast<std::int64_t>(tokens[i].size());
      if (static_cast<std::int64_t>(r.keys.size()) != rows * key_dim) {
        throw Error("knnlm: the model returned " + std::to_string(r.keys.size()) + " key values for " +
                    std::to_string(rows) + " tokens of width " + std::to_string(key_dim));
      }
      // Position t's key predicts token t + 1; the last position has no value.
      for (std::int64_t t = 0; t + 1 < rows; ++t) {
        values.push_back(tokens[i][static_cast<std::size_t>(t + 1)]);
        const auto entry = static_cast<std::int64_t>(successors.size());
        successors.push_back(t + 2 < rows ? entry + 1 : -1);
      }
      keys.write(reinterpret_cast<const char*>(r.keys.data()),
                 static_cast<std::streamsize>((rows - 1) * key_dim * 4));
    }
    progress.advance(static_cast<std::int64_t>(n));
  }
  progress.finish();
  keys.close();
  if (!keys) throw Error((staging.path() / "keys.f32").string() + ": write failed");
  std::ofstream(staging.path() / "values.i32", std::ios::binary)
      .write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
  std::ofstream(staging.path() / "successors.i64", std::ios::binary)
      .write(reinterpret_cast<const char*>(successors.data()),
             static_cast<std::streamsize>(successors.size() * 8));
  const json meta = {{"format", kDatastoreFormat},
                     {"version", kDatastoreVersion},
                     {"corpus_checksum", store.manifest().checksum},
                     {"model", model_fingerprint(model)},
                     {"probe", model_probe(model)},
                     {"key", "ffn_input"},
                     {"key_dim", key_dim},
                     {"entries", values.size()},
                     {"passages", ids.size()},
                     {"max_tokens", spec.max_tokens},
                     {"exclude_document_step", spec.exclude_document_step},
                     {"exclude_validation_permille", spec.exclude_validation_permille},
                     {"max_passages", spec.max_passages}};
  std::ofstream(staging.path() / "meta.json") << meta.dump(2) << "\n";
  log_info("knnlm: " + std::to_string(values.size()) + " datastore entries from " +
           std::to_string(ids.size()) + " passages");
  staging.commit();
}

void build_faiss(const DatastoreSpec& spec, bool rebuild) {
  const json dmeta = read_datastore_meta(spec.dir / "meta.json");
  const std::int64_t dim = dmeta.at("key_dim"), n = dmeta.at("entries");
  const MappedFile keys(spec.dir / "keys.f32");
  StagingDirectory staging(spec.faiss_dir(), rebuild);
  FaissIndex::build(staging.path() / "faiss.index", spec.index, spec.metric,
                    reinterpret_cast<const float*>(keys.bytes()), n, dim, spec.threads);
  json meta = dmeta;
  meta["format"] = kDatastoreFaissFormat;
  meta["index"] = spec.index;
  meta["metric"] = metric_name(spec.metric);
  std::ofstream(staging.path() / "meta.json") << meta.dump(2) << "\n";
  staging.commit();
}

}  // namespace

fs::path DatastoreSpec::faiss_dir() const {
  std::string key;
  for (char c : index)
    key.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return dir / ("faiss-" + key + "-" + metric_name(metric));
}

std::string DatastoreSpec::default_folder_name() const {
  std::string seed = model_fingerprint(*model);
  for (float v : model_probe(*model))
    seed += " " + std::to_string(v);
  seed += " max_tokens=" + std::to_string(max_tokens) + " exclude=" + std::to_string(exclude_document_step) +
          " exclude_permille=" + std::to_string(exclude_validation_permille) +
          " max_passages=" + std::to_string(max_passages);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(fnv1a64(seed.data(), seed.size())));
  const ModelInfo info = model->info();
  return "knnlm-" + info.architecture + "-k" + std::to_string(info.key_dim) + "-" + std::string(hash, 8);
}

std::string model_fingerprint(const Model& model) {
  const ModelInfo i = model.info();
  return "model architecture=" + i.architecture + " vocab=" + std::to_string(i.vocab_size) +
         " hidden=" + std::to_string(i.hidden_size) + " layers=" + std::to_string(i.num_layers) +
         " key_dim=" + std::to_string(i.key_dim) + " parameters=" + std::to_string(i.parameters);
}

std::vector<float> model_probe(Model& model) {
  const ModelInfo info = model.info();
  const Tokenizer& tok = model.tokenizer();
  Tokens probe{tok.bos()};
  for (TokenId t = 0; t < 8; ++t)
    probe.push_back((t * 37 + 5) % std::max(info.vocab_size, 1));
  auto seq = model.new_sequence();
  const EvalResult r = model.eval(*seq, probe, {.keys = true});
  const auto dim = static_cast<std::size_t>(info.key_dim);
  if (dim == 0 || r.keys.size() < dim) return {};
  const float* last = r.keys.data() + r.keys.size() - dim;
  return std::vector<float>(last, last + std::min(dim, kProbeValues));
}

bool datastore_exists(const DatastoreSpec& spec) {
  recover_writer_leftovers(spec.dir);
  if (!spec.exact()) recover_writer_leftovers(spec.faiss_dir());
  if (!fs::exists(spec.dir / "meta.json")) return false;
  if (!spec.exact() && !fs::exists(spec.faiss_dir() / "meta.json")) return false;
  return spec.shards <= 1 ||
         shard_sets_exist(shard_layout(spec, "keys.f32", "ralm datastore build PIPELINE"));
}

ShardSetSpec datastore_shard_sets(const PassageStore& store, const DatastoreSpec& spec) {
  ShardSetSpec sets = shard_layout(spec, "keys.f32", "ralm datastore build PIPELINE");
  sets.identity = {{"of", kDatastoreFormat},
                   {"corpus_checksum", store.manifest().checksum},
                   {"model", model_fingerprint(*spec.model)},
                   {"max_tokens", spec.max_tokens},
                   {"exclude_document_step", spec.exclude_document_step},
                   {"exclude_validation_permille", spec.exclude_validation_permille},
                   {"max_passages", spec.max_passages}};
  return sets;
}

void build_datastore(const PassageStore& store, const DatastoreSpec& spec, bool rebuild) {
  if (store.size() == 0) throw InputError(store.dir().string() + ": the corpus is empty; nothing to store");
  // Rebuilding the entries replaces the whole folder, FAISS indexes included.
  const bool entries_missing = !fs::exists(spec.dir / "meta.json");
  if (rebuild || entries_missing) build_entries(store, spec, rebuild && !entries_missing);
  if (!spec.exact()) {
    const bool faiss_missing = !fs::exists(spec.faiss_dir() / "meta.json");
    if (rebuild || faiss_missing) build_faiss(spec, rebuild && !faiss_missing);
  }
  if (spec.shards <= 1) return;
  const ShardSetSpec sets = datastore_shard_sets(store, spec);
  if (!rebuild && shard_sets_exist(sets)) return;
  const json meta = read_datastore_meta(spec.dir / "meta.json");
  const std::int64_t dim = meta.at("key_dim"), n = meta.at("entries");
  const MappedFile keys(spec.dir / "keys.f32");
  std::unique_ptr<FaissIndex> trained;
  if (!spec.exact()) trained = std::make_unique<FaissIndex>(spec.faiss_dir() / "faiss.index");
  build_shard_sets(sets, reinterpret_cast<const float*>(keys.bytes()), n, dim, trained.get(), spec.threads,
                   rebuild);
}

Datastore open_datastore(const PassageStore& store, const DatastoreSpec& spec) {
  Model& model = *spec.model;
  const std::string fingerprint = model_fingerprint(model);
  const std::vector<float> probe = model_probe(model);
  const fs::path meta_file = spec.dir / "meta.json";
  const json meta = read_datastore_meta(meta_file);
  check_common(meta_file, meta, kDatastoreFormat, store, spec, fingerprint, probe);
  Datastore ds;
  try {
    ds.entries = meta.at("entries");
    ds.key_dim = meta.at("key_dim");
  } catch (const json::exception& e) {
    throw InputError(meta_file.string() + ": malformed (" + e.what() + "); " + kRebuildDatastore);
  }
  if (ds.key_dim != model.info().key_dim) {
    throw InputError(meta_file.string() + ": keys of width " + std::to_string(ds.key_dim) +
                     ", but the pipeline's model gives keys of width " +
                     std::to_string(model.info().key_dim) + "; " + kRebuildDatastore);
  }
  ds.keys = std::make_unique<MappedFile>(spec.dir / "keys.f32");
  ds.values = std::make_unique<MappedFile>(spec.dir / "values.i32");
  ds.successors = std::make_unique<MappedFile>(spec.dir / "successors.i64");
  // entries comes from a file: compared by division, so that a huge count
  // cannot wrap its product with the widths into a size that matches.
  const auto fits = [&](const MappedFile& file, std::size_t row_bytes) {
    return ds.entries >= 0 && file.size() % row_bytes == 0 &&
           file.size() / row_bytes == static_cast<std::size_t>(ds.entries);
  };
  if (ds.key_dim <= 0 || !fits(*ds.keys, static_cast<std::size_t>(ds.key_dim) * 4) || !fits(*ds.values, 4) ||
      !fits(*ds.successors, 8)) {
    throw InputError(meta_file.string() + ": entries " + std::to_string(ds.entries) +
                     " disagree with the sizes of keys.f32, values.i32 and successors.i64; " +
                     kRebuildDatastore);
  }
  if (!spec.exact()) {
    const fs::path faiss_meta_file = spec.faiss_dir() / "meta.json";
    const json fmeta = read_datastore_meta(faiss_meta_file);
    check_common(faiss_meta_file, fmeta, kDatastoreFaissFormat, store, spec, fingerprint, probe);
    expect_datastore_field(faiss_meta_file, fmeta, "index", spec.index, "index");
    expect_datastore_field(faiss_meta_file, fmeta, "metric", metric_name(spec.metric), "metric");
    ds.faiss = std::make_unique<FaissIndex>(spec.faiss_dir() / "faiss.index");
    if (ds.faiss->size() != ds.entries || ds.faiss->dim() != ds.key_dim) {
      throw InputError(spec.faiss_dir().string() + ": the FAISS index disagrees with its meta.json; " +
                       kRebuildDatastore);
    }
  }
  return ds;
}

}  // namespace ralm::dense
