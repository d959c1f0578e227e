// The `xapian` plugin: BM25 through Xapian, over shards on this machine or
// served by Xapian's own `xapian-tcpsrv` on others.
#include "ralm/ralm.hpp"
#include "ralm/writer_leftovers.hpp"
#include "shard_index.hpp"
#include "xapian_retriever.hpp"

namespace {

namespace xs = ralm::xapian_shards;

std::unique_ptr<xs::XapianRetriever> make_retriever(const ralm::Params& p, ralm::BuildContext& ctx) {
  namespace fs = std::filesystem;
  const auto store = ralm::PassageStore::open(p.get_path("corpus"));
  fs::path index_dir = p.get_path("index");
  if (index_dir.empty()) index_dir = store->dir() / "xapian";
  const std::vector<std::string> remote = p.get_string_list("remote");
  const ralm::IndexRequest request = ctx.index_request();
  const bool rebuild = p.get_bool("rebuild") || request == ralm::IndexRequest::Rebuild;
  // Shards served by others are theirs to build; a local index is built
  // when asked for, or on first use.
  if (remote.empty() || request != ralm::IndexRequest::AsConfigured) {
    ralm::recover_writer_leftovers(index_dir);
    if (rebuild || !fs::exists(index_dir / "meta.json")) {
      if (!rebuild && !p.get_bool("build_if_missing") && request == ralm::IndexRequest::AsConfigured) {
        p.fail("index", "no Xapian index at " + index_dir.string() +
                            "; build it with `ralm index build`, or set build_if_missing: true");
      }
      ralm::log_info("xapian: building " + std::to_string(p.get_int("shards")) + " shard(s) of " +
                     store->dir().string() + " into " + index_dir.string());
      xs::build_shards(*store, index_dir, p.get_int("shards"), /*overwrite=*/rebuild);
    }
  }
  std::vector<xs::ShardLocation> shards;
  if (remote.empty()) {
    const std::int64_t count = xs::read_shard_count(index_dir, *store);
    if (count != p.get_int("shards")) {
      p.fail("shards", std::to_string(p.get_int("shards")) + ", but the index at " + index_dir.string() +
                           " has " + std::to_string(count) + "; set shards: " + std::to_string(count) +
                           ", or rebuild it with `ralm index build --force`");
    }
    for (std::int64_t s = 0; s < count; ++s)
      shards.push_back({.path = xs::shard_path(index_dir, s), .host = "", .port = 0});
  } else {
    if (static_cast<std::int64_t>(remote.size()) != p.get_int("shards")) {
      p.fail("remote", "lists " + std::to_string(remote.size()) + " servers for shards: " +
                           std::to_string(p.get_int("shards")) + "; give one HOST:PORT per shard, in order");
    }
    for (std::size_t i = 0; i < remote.size(); ++i)
      shards.push_back(xs::parse_remote(remote[i], "remote[" + std::to_string(i) + "]"));
  }
  xs::RetrieverSettings settings;
  settings.k1 = p.get_float("k1");
  settings.b = p.get_float("b");
  settings.open.timeout_ms = static_cast<unsigned>(p.get_int("timeout_ms"));
  settings.open.connect_timeout_ms = static_cast<unsigned>(p.get_int("connect_timeout_ms"));
  settings.partial_results = p.get_string("on_shard_failure") == "partial";
  settings.parallel_queries = p.get_int("parallel_queries");
  return std::make_unique<xs::XapianRetriever>(store, std::move(shards), settings);
}

}  // namespace

RALM_PLUGIN("xapian", "0.1.0", "BM25 through Xapian, over local or remote (xapian-tcpsrv) shards") {
  namespace param = ralm::param;
  registrar.add<ralm::Retriever>(
      "xapian",
      "BM25 through Xapian over N shards, local or served by `xapian-tcpsrv`, ranked with the whole "
      "collection's statistics",
      {
          param::required("corpus", ralm::ParamType::Path, "the passage store (`ralm corpus build --out`)"),
          param::path("index", "", "the folder of shard databases; empty: CORPUS/xapian"),
          param::integer("shards", 1, "how many shard databases `ralm index build` writes").at_least(1),
          param::string_list("remote", {},
                             "HOST:PORT of each shard's `xapian-tcpsrv`, in shard order; empty: the local "
                             "index"),
          param::real("k1", 0.9, "term-frequency saturation (the bm25 plugin's default)").at_least(0),
          param::real("b", 0.4, "length normalisation (the bm25 plugin's default)").between(0, 1),
          param::integer("timeout_ms", 10000, "the longest a remote shard may take to answer").at_least(1),
          param::integer("connect_timeout_ms", 2000, "the longest connecting to a remote shard may take")
              .at_least(1),
          param::string("on_shard_failure", "error",
                        "a shard that fails mid-run: `error` (one line naming it) or `partial` (search "
                        "the others, logged and counted)")
              .one_of({"error", "partial"}),
          param::integer("parallel_queries", 8,
                         "how many of a batch's queries run at once, each on its own connection to every "
                         "shard (a batch then costs about one round trip); 1: one after another")
              .between(1, 64),
          param::boolean("build_if_missing", true,
                         "build the local index on first use when it does not exist"),
          param::boolean("rebuild", false,
                         "rebuild the index even if it exists (`ralm index build --force`)"),
      },
      make_retriever, {.keeps = "index"});
}
