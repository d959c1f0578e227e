// The `bm25` plugin: sparse retrieval over a passage store.
#include "bm25_index.hpp"
#include "bm25_retriever.hpp"
#include "ralm/ralm.hpp"
#include "ralm/writer_leftovers.hpp"

namespace {

std::unique_ptr<ralm::bm25::Bm25Retriever> make_retriever(const ralm::Params& p, ralm::BuildContext& ctx) {
  namespace fs = std::filesystem;
  const auto store = ralm::PassageStore::open(p.get_path("corpus"));
  fs::path index_dir = p.get_path("index");
  if (index_dir.empty()) index_dir = store->dir() / "bm25";
  const ralm::IndexRequest request = ctx.index_request();
  const bool rebuild = p.get_bool("rebuild") || request == ralm::IndexRequest::Rebuild;
  // An index used as it stands is not rewritten, so what a killed rebuild
  // left beside it goes now or never.
  ralm::recover_writer_leftovers(index_dir);
  if (rebuild || !fs::exists(index_dir / "meta.json")) {
    if (!rebuild && !p.get_bool("build_if_missing") && request == ralm::IndexRequest::AsConfigured) {
      p.fail("index", "no BM25 index at " + index_dir.string() +
                          "; build it with `ralm index build`, or set "
                          "build_if_missing: true");
    }
    ralm::log_info("bm25: building the index of " + store->dir().string() + " into " + index_dir.string());
    ralm::bm25::build_index(*store, index_dir, /*overwrite=*/rebuild);
  }
  auto index = std::make_unique<ralm::bm25::Bm25Index>(
      index_dir, *store, static_cast<float>(p.get_float("k1")), static_cast<float>(p.get_float("b")));
  const int threads = p.get_int("threads") > 0 ? static_cast<int>(p.get_int("threads")) : ctx.threads();
  return std::make_unique<ralm::bm25::Bm25Retriever>(store, std::move(index), threads);
}

}  // namespace

RALM_PLUGIN("bm25", "0.1.0", "BM25 sparse retrieval with an on-disk inverted index") {
  namespace param = ralm::param;
  registrar.add<ralm::Retriever>(
      "bm25", "BM25 over a passage store (Lucene's scoring, English stop words, Snowball stemming)",
      {
          param::required("corpus", ralm::ParamType::Path, "the passage store (`ralm corpus build --out`)"),
          param::path("index", "", "the index folder; empty: CORPUS/bm25"),
          param::real("k1", 0.9, "term-frequency saturation (Pyserini's default)").at_least(0),
          param::real("b", 0.4, "length normalisation (Pyserini's default)").between(0, 1),
          param::boolean("build_if_missing", true, "build the index on first use when it does not exist"),
          param::boolean("rebuild", false,
                         "rebuild the index even if it exists (`ralm index build --force`)"),
          param::integer("threads", 0, "threads for a batch of queries; 0: the engine's").at_least(0),
      },
      make_retriever, {.keeps = "index"});
}
