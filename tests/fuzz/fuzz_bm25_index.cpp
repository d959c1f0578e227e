// The BM25 index `ralm index build` writes (plugins/bm25/bm25_index.cpp):
// one of its files replaced by the input (FolderFuzz), then the index opened
// over its passage store, searched and scored as the retriever does.
#include <memory>

#include "bm25_index.hpp"
#include "fuzz_support.hpp"
#include "ralm/passage_store.hpp"

namespace {

std::unique_ptr<ralm::fuzz::FolderFuzz> folder;
std::shared_ptr<const ralm::PassageStore> store;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  store = ralm::PassageStore::open(ralm::fuzz::fixture_store());
  const auto built = ralm::fuzz::work_dir() / "built" / "bm25";
  ralm::bm25::build_index(*store, built, false);
  folder = ralm::fuzz::fuzz_folder(built, "bm25");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& dir = folder->apply(data, size);
  return ralm::fuzz::expect_only_our_errors([&] {
    const ralm::bm25::Bm25Index index(dir, *store, 0.9f, 0.4f);
    const auto terms = ralm::bm25::Bm25Index::unique_terms({"compil", "languag", "program", "the", "zzz"});
    ralm::bm25::SearchScratch scratch;
    for (const ralm::Hit& hit : index.search(terms, 5, scratch))
      if (hit.id < 0 || hit.id >= store->size()) __builtin_trap();
    for (ralm::PassageId id = 0; id < store->size(); ++id)
      (void)index.score(terms, id);
  });
}
