#include "shard_index.hpp"

#include <charconv>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "ralm/error.hpp"
#include "ralm/progress.hpp"
#include "ralm/staging_directory.hpp"
#include "ralm/text_analysis/analyzer.hpp"

namespace ralm::xapian_shards {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path shard_path(const fs::path& dir, std::int64_t shard) {
  char name[32];
  std::snprintf(name, sizeof name, "shard-%03lld", static_cast<long long>(shard));
  return dir / name;
}

void build_shards(const PassageStore& store, const fs::path& dir, std::int64_t shards, bool overwrite) {
  if (shards < 1) throw InputError("xapian: shards = " + std::to_string(shards) + "; give 1 or more");
  StagingDirectory staging(dir, overwrite);
  std::vector<Xapian::WritableDatabase> dbs;
  for (std::int64_t s = 0; s < shards; ++s) {
    dbs.emplace_back(shard_path(staging.path(), s).string(), Xapian::DB_CREATE | Xapian::DB_BACKEND_GLASS);
    dbs.back().set_metadata(kShardKey, std::to_string(s) + "/" + std::to_string(shards));
    dbs.back().set_metadata(kChecksumKey, store.manifest().checksum);
  }
  text_analysis::Analyzer analyzer;
  Progress progress("xapian index", store.size(), "passages");
  std::map<std::string, Xapian::termcount> wdf;
  for (PassageId id = 0; id < store.size(); ++id) {
    std::string contents(store.title(id));
    contents.push_back('\n');
    contents.append(store.text(id));
    wdf.clear();
    for (std::string& t : analyzer.terms(contents))
      ++wdf[std::move(t)];
    Xapian::Document doc;
    for (const auto& [term, count] : wdf)
      doc.add_term(term, count);
    doc.add_boolean_term("Q" + std::to_string(id));
    const auto s = static_cast<std::size_t>(id % shards);
    dbs[s].replace_document(static_cast<Xapian::docid>(id / shards + 1), doc);
    progress.advance();
  }
  for (auto& db : dbs) {
    db.commit();
    db.close();
  }
  progress.finish();
  const json meta = {{"format", kIndexFormat},
                     {"version", kIndexVersion},
                     {"analyzer", text_analysis::kAnalyzerName},
                     {"corpus_checksum", store.manifest().checksum},
                     {"passages", store.size()},
                     {"shards", shards}};
  std::ofstream(staging.path() / "meta.json") << meta.dump(2) << "\n";
  staging.commit();
}

std::int64_t read_shard_count(const fs::path& dir, const PassageStore& store) {
  const fs::path meta_file = dir / "meta.json";
  std::ifstream in(meta_file);
  if (!in)
    throw InputError(dir.string() +
                     ": no Xapian index here (no meta.json); build it with `ralm index build`");
  try {
    const json meta = json::parse(in);
    if (meta.at("format") != kIndexFormat || meta.at("version") != kIndexVersion)
      throw InputError(meta_file.string() + ": not a Xapian index of this ralm version; rebuild it");
    if (meta.at("analyzer") != text_analysis::kAnalyzerName)
      throw InputError(meta_file.string() + ": built with analyser " +
                       meta.at("analyzer").get<std::string>() + ", this ralm analyses with " +
                       text_analysis::kAnalyzerName + "; rebuild it with `ralm index build --force`");
    if (meta.at("corpus_checksum") != store.manifest().checksum)
      throw InputError(meta_file.string() + ": built for another corpus (checksum " +
                       meta.at("corpus_checksum").get<std::string>() + ", " + store.dir().string() + " has " +
                       store.manifest().checksum + "); rebuild it with `ralm index build --force`");
    const std::int64_t shards = meta.at("shards");
    if (shards < 1) throw InputError(meta_file.string() + ": shards is " + std::to_string(shards));
    return shards;
  } catch (const json::exception& e) {
    throw InputError(meta_file.string() + ": malformed: " + e.what());
  }
}

std::string ShardLocation::name() const {
  return host.empty() ? path.string() : host + ":" + std::to_string(port);
}

ShardLocation parse_remote(const std::string& text, const std::string& field) {
  const auto colon = text.rfind(':');
  ShardLocation where;
  unsigned port = 0;
  if (colon == std::string::npos || colon == 0 ||
      std::from_chars(text.data() + colon + 1, text.data() + text.size(), port).ptr !=
          text.data() + text.size() ||
      port == 0 || port > 65535) {
    throw InputError(field + ": '" + text + "' is not HOST:PORT (e.g. 127.0.0.1:7001, a `xapian-tcpsrv`)");
  }
  where.host = text.substr(0, colon);
  where.port = port;
  return where;
}

Xapian::Database open_shard(const ShardLocation& where, std::int64_t index, std::int64_t count,
                            const PassageStore& store, const OpenOptions& options) {
  Xapian::Database db;
  const std::string expected = std::to_string(index) + "/" + std::to_string(count);
  std::string shard, checksum;
  try {
    if (where.host.empty()) {
      db = Xapian::Database(where.path.string());
    } else {
      db = Xapian::Remote::open(where.host, where.port, options.timeout_ms, options.connect_timeout_ms);
    }
    shard = db.get_metadata(kShardKey);
    checksum = db.get_metadata(kChecksumKey);
  } catch (const Xapian::Error& e) {
    throw InputError("xapian: shard " + expected + " at " + where.name() + ": " + e.get_description() +
                     (where.host.empty() ? "" : " (is `xapian-tcpsrv` serving it there?)"));
  }
  if (shard != expected) {
    throw InputError("xapian: " + where.name() + " holds shard " + (shard.empty() ? "(none)" : shard) +
                     ", but it is listed as shard " + expected +
                     "; list the shards in order, as many as `ralm index build` made");
  }
  if (checksum != store.manifest().checksum) {
    throw InputError("xapian: shard " + expected + " at " + where.name() + " was built for another corpus (" +
                     checksum + ", " + store.dir().string() + " is " + store.manifest().checksum +
                     "); rebuild it with `ralm index build --force`");
  }
  return db;
}

}  // namespace ralm::xapian_shards
