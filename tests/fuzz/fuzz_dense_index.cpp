// The dense index `ralm index build` writes (plugins/dense/dense_index_files.cpp,
// index_meta.cpp, the lsa encoder's files): one of its files replaced by the
// input (FolderFuzz), then the index opened over its passage store and
// searched and scored as the retriever does.
#include <memory>

#include "dense_index_files.hpp"
#include "dense_retriever.hpp"
#include "fuzz_support.hpp"
#include "ralm/passage_store.hpp"

namespace {

std::unique_ptr<ralm::fuzz::FolderFuzz> folder;
std::shared_ptr<const ralm::PassageStore> store;
ralm::dense::DenseIndexSpec spec;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  store = ralm::PassageStore::open(ralm::fuzz::fixture_store());
  spec.lsa.dim = 4;
  spec.lsa.min_df = 1;
  spec.dir = ralm::fuzz::work_dir() / "built" / "dense";
  ralm::dense::build_dense_index(*store, spec, false);
  folder = ralm::fuzz::fuzz_folder(spec.dir, "dense");
  spec.dir = folder->dir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  folder->apply(data, size);
  return ralm::fuzz::expect_only_our_errors([&] {
    ralm::dense::DenseRetriever retriever(store, ralm::dense::open_dense_index(*store, spec), spec.metric, 1,
                                          1);
    const std::vector<std::string> queries = {"a compiler of programming languages", "zzz"};
    for (const auto& hits : retriever.search(queries, 3))
      for (const ralm::Hit& hit : hits)
        if (hit.id < 0 || hit.id >= store->size()) __builtin_trap();
    const std::vector<ralm::PassageId> ids = {0, store->size() - 1};
    (void)retriever.score(queries[0], ids);
  });
}
