// A passage store's text in N Xapian databases (shards), and opening them
// again, local or served by `xapian-tcpsrv`, as one Xapian database.
//
// Folder layout:
//   meta.json     format, version, analyser, corpus checksum, passages, shards
//   shard-000/    a Xapian (glass) database; shard-001/, ...
//
// Passage p goes to shard p mod N as that shard's document p div N + 1.
// Xapian numbers the documents of a database made of N shards by
// interleaving theirs (shard s's document d is (d - 1) N + s + 1), so the
// combined document p + 1 is passage p: ids stay the passage store's
// without a lookup. Each shard's user metadata says which shard it is and of
// which corpus, so a list of remote shards can be checked before use.
//
// Terms are our analyser's (plugins/common/text_analysis: the bm25 plugin's
// stop words and Snowball English stems), indexed with their frequency; each
// document also has the boolean term Q<passage id>, through which score()
// restricts a query to given passages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <xapian.h>

#include "ralm/passage_store.hpp"

namespace ralm::xapian_shards {

inline constexpr const char* kIndexFormat = "ralmkit-xapian";
inline constexpr int kIndexVersion = 1;

// Writes `store` into `shards` databases under `dir`, atomically.
void build_shards(const PassageStore& store, const std::filesystem::path& dir, std::int64_t shards,
                  bool overwrite);

// The shard count of the index in `dir`; an index built for another corpus or
// analyser, or no index, is an InputError saying how to rebuild.
std::int64_t read_shard_count(const std::filesystem::path& dir, const PassageStore& store);

std::filesystem::path shard_path(const std::filesystem::path& dir, std::int64_t shard);

// Where one shard is: a local database folder, or a `xapian-tcpsrv`.
struct ShardLocation {
  std::filesystem::path path;  // local when host is empty
  std::string host;
  unsigned port = 0;
  std::string name() const;  // "HOST:PORT" or the path
};

// "HOST:PORT" as a ShardLocation; `field` names the setting in errors.
ShardLocation parse_remote(const std::string& text, const std::string& field);

struct OpenOptions {
  unsigned timeout_ms = 10000;         // each network operation
  unsigned connect_timeout_ms = 2000;  // opening a connection
};

// Opens one shard and checks it is shard `index` of `count` of `store`'s
// corpus: an unreachable shard or another shard than expected is an
// InputError naming the location.
Xapian::Database open_shard(const ShardLocation& where, std::int64_t index, std::int64_t count,
                            const PassageStore& store, const OpenOptions& options);

// The metadata keys each shard carries.
inline constexpr const char* kShardKey = "ralm.shard";               // "INDEX/COUNT"
inline constexpr const char* kChecksumKey = "ralm.corpus_checksum";  // the store's checksum

}  // namespace ralm::xapian_shards
