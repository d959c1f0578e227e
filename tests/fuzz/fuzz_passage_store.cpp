// The passage store `ralm corpus build` writes (sdk/src/passage_store.cpp):
// one of manifest.json, passages.data, passages.offsets, passages.docs
// replaced by the input (FolderFuzz), then the store opened and every
// passage read, as a retriever does.
#include <memory>

#include "fuzz_support.hpp"
#include "ralm/passage_store.hpp"

namespace {
std::unique_ptr<ralm::fuzz::FolderFuzz> folder;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  const auto& built = ralm::fuzz::fixture_store();
  folder = ralm::fuzz::fuzz_folder(built, "store");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& dir = folder->apply(data, size);
  return ralm::fuzz::expect_only_our_errors([&] {
    const auto store = ralm::PassageStore::open(dir);
    for (ralm::PassageId id = 0; id < store->size(); ++id) {
      const ralm::Passage p = store->passage(id);
      ralm::fuzz::keep(store->title(id).size() + store->text(id).size() + p.text.size() +
                       static_cast<std::size_t>(store->document(id)));
    }
  });
}
