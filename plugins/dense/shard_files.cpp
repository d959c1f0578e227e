#include "shard_files.hpp"

#include <fstream>
#include <regex>
#include <set>

#include "index_meta.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/staging_directory.hpp"
#include "ralm/writer_leftovers.hpp"

namespace ralm::dense {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path ShardSetSpec::shard_dir(std::int64_t shard) const {
  return dir / ("shard-" + std::to_string(shard) + "-of-" + std::to_string(shards));
}

std::pair<std::int64_t, std::int64_t> shard_rows(std::int64_t n, std::int64_t shards, std::int64_t shard) {
  const std::int64_t first = n * shard / shards, end = n * (shard + 1) / shards;
  return {first, end - first};
}

std::uint64_t rows_sample_checksum(const float* rows, std::int64_t n, std::int64_t dim) {
  constexpr std::int64_t kSamples = 64;
  std::uint64_t hash = fnv1a64(&n, sizeof n);
  hash = fnv1a64(&dim, sizeof dim, hash);
  for (std::int64_t i = 0; i < std::min(n, kSamples); ++i) {
    const std::int64_t row = n <= kSamples ? i : i * (n - 1) / (kSamples - 1);
    hash = fnv1a64(rows + row * dim, static_cast<std::size_t>(dim) * sizeof(float), hash);
  }
  return hash;
}

bool shard_sets_exist(const ShardSetSpec& spec) {
  for (std::int64_t s = 0; s < spec.shards; ++s) {
    const fs::path dir = spec.shard_dir(s);
    recover_writer_leftovers(dir);
    if (!fs::exists(dir / "meta.json")) return false;
    if (!spec.index.empty()) {
      recover_writer_leftovers(dir / spec.faiss_folder);
      if (!fs::exists(dir / spec.faiss_folder / "meta.json")) return false;
    }
  }
  return true;
}

void build_shard_sets(const ShardSetSpec& spec, const float* rows, std::int64_t n, std::int64_t dim,
                      const FaissIndex* trained, int threads, bool rebuild) {
  const std::uint64_t checksum = rows_sample_checksum(rows, n, dim);
  for (std::int64_t s = 0; s < spec.shards; ++s) {
    const auto [first, count] = shard_rows(n, spec.shards, s);
    const fs::path dir = spec.shard_dir(s);
    json meta = spec.identity;
    meta.update({{"format", kShardFormat},
                 {"shard", s},
                 {"shards", spec.shards},
                 {"first_row", first},
                 {"rows", count},
                 {"total_rows", n},
                 {"dim", dim},
                 {"rows_sample_checksum", std::to_string(checksum)}});
    // Rewriting a shard's rows replaces its folder, approximate indexes too.
    const bool rows_missing = !fs::exists(dir / "meta.json");
    if (rebuild || rows_missing) {
      StagingDirectory staging(dir, rebuild && !rows_missing);
      std::ofstream out(staging.path() / spec.rows_file, std::ios::binary);
      out.write(reinterpret_cast<const char*>(rows + first * dim),
                static_cast<std::streamsize>(count * dim * static_cast<std::int64_t>(sizeof(float))));
      out.close();
      if (!out) throw Error((staging.path() / spec.rows_file).string() + ": write failed");
      std::ofstream(staging.path() / "meta.json") << meta.dump(2) << "\n";
      staging.commit();
    }
    if (spec.index.empty()) continue;
    const fs::path faiss_dir = dir / spec.faiss_folder;
    const bool faiss_missing = !fs::exists(faiss_dir / "meta.json");
    if (!rebuild && !rows_missing && !faiss_missing) continue;
    StagingDirectory staging(faiss_dir, fs::exists(faiss_dir));
    trained->write_sharing_training(staging.path() / "faiss.index", rows + first * dim, count, threads);
    meta["index"] = spec.index;
    std::ofstream(staging.path() / "meta.json") << meta.dump(2) << "\n";
    staging.commit();
  }
  log_info("dense: " + std::to_string(spec.shards) + " shard file sets of " + std::to_string(n) +
           " rows in " + spec.dir.string() + "/shard-*-of-" + std::to_string(spec.shards));
}

namespace {

// "shard-*-of-N" folders beside the one wanted: what the folder was built
// for, to say in the error.
std::string shard_counts_present(const fs::path& dir) {
  static const std::regex name(R"(shard-\d+-of-(\d+))");
  std::set<std::int64_t> counts;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string file = entry.path().filename().string();
    if (std::regex_match(file, m, name)) counts.insert(std::stoll(m[1].str()));
  }
  std::string said;
  for (std::int64_t c : counts)
    said += (said.empty() ? "" : ", ") + std::to_string(c);
  return said;
}

}  // namespace

ShardFiles open_shard(const ShardSetSpec& spec, std::int64_t shard) {
  const fs::path dir = spec.shard_dir(shard);
  const fs::path meta_file = dir / "meta.json";
  if (!fs::exists(meta_file)) {
    const std::string present = shard_counts_present(spec.dir);
    throw InputError(dir.string() + ": missing (shard " + std::to_string(shard) + " of " +
                     std::to_string(spec.shards) + "; " +
                     (present.empty() ? std::string("the folder has no shard file sets")
                                      : "the folder has shard file sets for shards: " + present) +
                     "); " + spec.rebuild_hint + ", and copy " + dir.filename().string() +
                     "/ to the machine of that rank");
  }
  const json meta = read_index_meta(meta_file, spec.rebuild_hint);
  const auto expect = [&](const fs::path& file, const json& m, const std::string& key, const json& wanted) {
    expect_index_meta(file, m, key, wanted, key, spec.rebuild_hint);
  };
  expect(meta_file, meta, "format", kShardFormat);
  for (const auto& [key, value] : spec.identity.items())
    expect(meta_file, meta, key, value);
  expect(meta_file, meta, "shard", shard);
  expect(meta_file, meta, "shards", spec.shards);
  ShardFiles files;
  try {
    files.first_row = meta.at("first_row");
    files.rows = meta.at("rows");
    files.dim = meta.at("dim");
    files.sample_checksum = std::stoull(meta.at("rows_sample_checksum").get<std::string>());
    const std::int64_t total = meta.at("total_rows");
    if (shard_rows(total, spec.shards, shard) != std::pair{files.first_row, files.rows})
      throw InputError(meta_file.string() + ": its row range is not shard " + std::to_string(shard) + " of " +
                       std::to_string(spec.shards) + " of " + std::to_string(total) + " rows; " +
                       spec.rebuild_hint);
  } catch (const json::exception& e) {
    throw InputError(meta_file.string() + ": malformed (" + e.what() + "); " + spec.rebuild_hint);
  } catch (const std::logic_error& e) {  // stoull
    throw InputError(meta_file.string() + ": malformed rows_sample_checksum; " + spec.rebuild_hint);
  }
  files.vectors = std::make_unique<MappedFile>(dir / spec.rows_file);
  // Compared by division: rows and dim come from a file, and their product
  // could wrap.
  const std::size_t row_bytes = static_cast<std::size_t>(files.dim) * sizeof(float);
  if (files.dim <= 0 || files.rows < 0 || files.vectors->size() % row_bytes != 0 ||
      files.vectors->size() / row_bytes != static_cast<std::size_t>(files.rows)) {
    throw InputError((dir / spec.rows_file).string() +
                     ": its size disagrees with meta.json's rows and dim; " + spec.rebuild_hint);
  }
  if (!spec.index.empty()) {
    const fs::path faiss_meta_file = dir / spec.faiss_folder / "meta.json";
    const json fmeta = read_index_meta(faiss_meta_file, spec.rebuild_hint);
    expect(faiss_meta_file, fmeta, "index", spec.index);
    expect(faiss_meta_file, fmeta, "rows_sample_checksum", meta.at("rows_sample_checksum"));
    files.faiss = std::make_unique<FaissIndex>(dir / spec.faiss_folder / "faiss.index");
    if (files.faiss->size() != files.rows || files.faiss->dim() != files.dim) {
      throw InputError((dir / spec.faiss_folder).string() +
                       ": the FAISS index disagrees with its meta.json; " + spec.rebuild_hint);
    }
  }
  return files;
}

}  // namespace ralm::dense
