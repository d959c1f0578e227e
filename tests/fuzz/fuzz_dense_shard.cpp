// One shard file set of a dense index (plugins/dense/shard_files.cpp), as
// `ralm index build --shards 2` writes it: one of its files replaced by the
// input (FolderFuzz), then opened as a shard rank opens it and searched as
// it searches. Flat: a shard's FAISS file is FAISS's own format, whose
// reader allocates what a damaged size field claims before it can tell the
// file is short (gigabytes, past the fuzzer's memory limit).
#include <memory>

#include "dense_index_files.hpp"
#include "fuzz_support.hpp"
#include "ralm/passage_store.hpp"
#include "shard_search.hpp"

namespace {

std::unique_ptr<ralm::fuzz::FolderFuzz> folder;
ralm::dense::ShardSetSpec sets;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  const auto store = ralm::PassageStore::open(ralm::fuzz::fixture_store());
  ralm::dense::DenseIndexSpec spec;
  spec.lsa.dim = 4;
  spec.lsa.min_df = 1;
  spec.shards = 2;
  spec.dir = ralm::fuzz::work_dir() / "built" / "dense";
  ralm::dense::build_dense_index(*store, spec, false);
  sets = ralm::dense::dense_shard_sets(*store, spec);
  // The fuzzed copy of shard 1 lies where a shard rank looks for it.
  std::filesystem::create_directories(ralm::fuzz::work_dir() / "sets");
  folder = ralm::fuzz::fuzz_folder(sets.shard_dir(1), "sets/" + sets.shard_dir(1).filename().string());
  sets.dir = folder->dir().parent_path();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  folder->apply(data, size);
  return ralm::fuzz::expect_only_our_errors([&] {
    const ralm::dense::ShardSearch search(ralm::dense::open_shard(sets, 1), {});
    const std::vector<float> queries(static_cast<std::size_t>(2 * search.dim()), 0.5f);
    for (const auto& hits : search.search(queries.data(), 2, 3))
      for (const ralm::Hit& hit : hits)
        if (hit.id < 0 || hit.id >= search.rows()) __builtin_trap();
  });
}
