#include "dense_index_files.hpp"

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

std::string DenseIndexSpec::encoder_fingerprint() const {
  if (encoder == "model") return ModelEncoder::fingerprint_of(*model, max_tokens);
  if (encoder == "bert") return bert->fingerprint();
  return LsaEncoder::fingerprint_of(lsa);
}

std::string DenseIndexSpec::default_folder_name() const {
  if (encoder == "model") return "dense-model";
  if (encoder == "bert") {
    std::string name = "dense-bert-";
    fs::path folder = fs::absolute(bert->options().checkpoint).lexically_normal();
    if (!folder.has_filename()) folder = folder.parent_path();  // "dir/" names dir
    for (char c : folder.filename().string())
      name.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_');
    return name;
  }
  return "dense-" + encoder + std::to_string(lsa.dim);
}

fs::path DenseIndexSpec::faiss_dir() const {
  std::string key;
  for (char c : index)
    key.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return dir / ("faiss-" + key + "-" + metric_name(metric));
}

bool dense_index_exists(const DenseIndexSpec& spec) {
  recover_writer_leftovers(spec.dir);
  if (!spec.exact()) recover_writer_leftovers(spec.faiss_dir());
  if (!fs::exists(spec.dir / "meta.json")) return false;
  if (!spec.exact() && !fs::exists(spec.faiss_dir() / "meta.json")) return false;
  return spec.shards <= 1 || shard_sets_exist(shard_layout(spec, "vectors.f32", "ralm index build PIPELINE"));
}

ShardSetSpec dense_shard_sets(const PassageStore& store, const DenseIndexSpec& spec) {
  ShardSetSpec sets = shard_layout(spec, "vectors.f32", "ralm index build PIPELINE");
  sets.identity = {{"of", kDenseFormat},
                   {"corpus_checksum", store.manifest().checksum},
                   {"passages", store.size()},
                   {"encoder", spec.encoder_fingerprint()}};
  return sets;
}

namespace {

const char* kRebuildIndex = "rebuild it with `ralm index build PIPELINE --force` (or delete the folder)";

json read_dense_meta(const fs::path& file) {
  return read_index_meta(file, kRebuildIndex);
}

void expect_index_field(const fs::path& file, const json& meta, const std::string& key, const json& wanted,
                        const std::string& what, const std::string& holder = "the pipeline asks for") {
  expect_index_meta(file, meta, key, wanted, what, kRebuildIndex, holder);
}

void check_common(const fs::path& file, const json& meta, const char* format, const PassageStore& store,
                  const DenseIndexSpec& spec) {
  const std::string corpus = "the pipeline's corpus " + store.dir().string() + " has";
  expect_index_field(file, meta, "format", format, "format");
  expect_index_field(file, meta, "version", kDenseVersion, "format version");
  expect_index_field(file, meta, "corpus_checksum", store.manifest().checksum, "the corpus checksum", corpus);
  expect_index_field(file, meta, "passages", store.size(), "a passage count of", corpus);
  expect_index_field(file, meta, "encoder", spec.encoder_fingerprint(), "encoder");
}

void build_vectors(const PassageStore& store, const DenseIndexSpec& spec, bool rebuild) {
  StagingDirectory staging(spec.dir, rebuild);
  std::shared_ptr<const Encoder> encoder;
  if (spec.encoder == "model") {
    encoder = std::make_shared<ModelEncoder>(spec.model, spec.max_tokens);
  } else if (spec.encoder == "bert") {
    encoder = spec.bert;
  } else {
    log_info("dense: training the " + spec.encoder + " encoder on " + store.dir().string());
    encoder = LsaEncoder::train(store, spec.lsa, spec.threads);
  }
  fs::create_directory(staging.path() / "encoder");
  encoder->save(staging.path() / "encoder");
  const std::int64_t n = store.size(), dim = encoder->dim();
  std::ofstream out(staging.path() / "vectors.f32", std::ios::binary);
  Progress progress("dense: encoding", n, "passages");
  constexpr std::int64_t kChunk = 4096;
  std::vector<std::string> texts;
  std::vector<float> rows;
  for (std::int64_t i = 0; i < n; i += kChunk) {
    const std::int64_t m = std::min(kChunk, n - i);
    texts.clear();
    for (std::int64_t id = i; id < i + m; ++id)
      texts.push_back(std::string(store.title(id)) + "\n" + std::string(store.text(id)));
    rows.resize(static_cast<std::size_t>(m * dim));
    encoder->encode(texts, rows.data(), spec.threads);
    out.write(reinterpret_cast<const char*>(rows.data()), static_cast<std::streamsize>(rows.size() * 4));
    progress.advance(m);
  }
  progress.finish();
  out.close();
  if (!out) throw Error((staging.path() / "vectors.f32").string() + ": write failed");
  const json meta = {{"format", kDenseFormat},
                     {"version", kDenseVersion},
                     {"corpus_checksum", store.manifest().checksum},
                     {"passages", n},
                     {"encoder", spec.encoder_fingerprint()},
                     {"dim", dim}};
  std::ofstream(staging.path() / "meta.json") << meta.dump(2) << "\n";
  staging.commit();
}

void build_faiss(const PassageStore& store, const DenseIndexSpec& spec, bool rebuild) {
  const json vmeta = read_dense_meta(spec.dir / "meta.json");
  const std::int64_t dim = vmeta.at("dim");
  const MappedFile vectors(spec.dir / "vectors.f32");
  StagingDirectory staging(spec.faiss_dir(), rebuild);
  FaissIndex::build(staging.path() / "faiss.index", spec.index, spec.metric,
                    reinterpret_cast<const float*>(vectors.bytes()), store.size(), dim, spec.threads);
  const json meta = {{"format", kFaissFormat},
                     {"version", kDenseVersion},
                     {"corpus_checksum", store.manifest().checksum},
                     {"passages", store.size()},
                     {"encoder", spec.encoder_fingerprint()},
                     {"index", spec.index},
                     {"metric", metric_name(spec.metric)}};
  std::ofstream(staging.path() / "meta.json") << meta.dump(2) << "\n";
  staging.commit();
}

}  // namespace

void build_dense_index(const PassageStore& store, const DenseIndexSpec& spec, bool rebuild) {
  if (store.size() == 0) throw InputError(store.dir().string() + ": the corpus is empty; nothing to index");
  // Rebuilding the vectors replaces the whole folder, FAISS indexes included.
  const bool vectors_missing = !fs::exists(spec.dir / "meta.json");
  if (rebuild || vectors_missing) build_vectors(store, spec, rebuild && !vectors_missing);
  if (!spec.exact()) {
    const bool faiss_missing = !fs::exists(spec.faiss_dir() / "meta.json");
    if (rebuild || faiss_missing) build_faiss(store, spec, rebuild && !faiss_missing);
  }
  if (spec.shards <= 1) return;
  const ShardSetSpec sets = dense_shard_sets(store, spec);
  if (!rebuild && shard_sets_exist(sets)) return;
  const json meta = read_dense_meta(spec.dir / "meta.json");
  const std::int64_t dim = meta.at("dim");
  const MappedFile vectors(spec.dir / "vectors.f32");
  std::unique_ptr<FaissIndex> trained;
  if (!spec.exact()) trained = std::make_unique<FaissIndex>(spec.faiss_dir() / "faiss.index");
  build_shard_sets(sets, reinterpret_cast<const float*>(vectors.bytes()), store.size(), dim, trained.get(),
                   spec.threads, rebuild);
}

DenseIndexFiles open_dense_index(const PassageStore& store, const DenseIndexSpec& spec) {
  DenseIndexFiles files;
  const fs::path meta_file = spec.dir / "meta.json";
  const json meta = read_dense_meta(meta_file);
  check_common(meta_file, meta, kDenseFormat, store, spec);
  try {
    files.dim = meta.at("dim");
  } catch (const json::exception& e) {
    throw InputError(meta_file.string() + ": malformed (" + e.what() + "); " + kRebuildIndex);
  }
  if (spec.encoder == "model") {
    files.encoder = std::make_unique<ModelEncoder>(spec.model, spec.max_tokens);
  } else if (spec.encoder == "bert") {
    files.encoder = spec.bert;
  } else {
    files.encoder = LsaEncoder::load(spec.dir / "encoder", spec.lsa);
  }
  files.vectors = std::make_unique<MappedFile>(spec.dir / "vectors.f32");
  if (files.encoder->dim() != files.dim ||
      files.vectors->size() != static_cast<std::size_t>(store.size() * files.dim) * sizeof(float)) {
    throw InputError(spec.dir.string() + ": the encoder, vectors and meta.json disagree; " + kRebuildIndex);
  }
  if (!spec.exact()) {
    const fs::path faiss_meta_file = spec.faiss_dir() / "meta.json";
    const json fmeta = read_dense_meta(faiss_meta_file);
    check_common(faiss_meta_file, fmeta, kFaissFormat, store, spec);
    expect_index_field(faiss_meta_file, fmeta, "index", spec.index, "index");
    expect_index_field(faiss_meta_file, fmeta, "metric", metric_name(spec.metric), "metric");
    files.faiss = std::make_unique<FaissIndex>(spec.faiss_dir() / "faiss.index");
    if (files.faiss->size() != store.size() || files.faiss->dim() != files.dim) {
      throw InputError(spec.faiss_dir().string() + ": the FAISS index disagrees with its meta.json; " +
                       kRebuildIndex);
    }
  }
  return files;
}

}  // namespace ralm::dense
