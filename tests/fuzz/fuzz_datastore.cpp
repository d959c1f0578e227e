// The kNN-LM datastore `ralm datastore build` writes
// (plugins/dense/datastore_files.cpp): one of its files replaced by the input
// (FolderFuzz), then the datastore opened for a tiny random Llama and used
// as the knnlm policy uses it: searched, its values mixed into logits, its
// successors followed (speculative kNN-LM's cache).
#include <memory>

#include "datastore_files.hpp"
#include "fuzz_support.hpp"
#include "knnlm_policy.hpp"
#include "ralm/passage_store.hpp"
#include "tiny_engine.hpp"

namespace {

std::unique_ptr<ralm::fuzz::FolderFuzz> folder;
std::shared_ptr<const ralm::PassageStore> store;
ralm::dense::DatastoreSpec spec;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  store = ralm::PassageStore::open(ralm::fuzz::fixture_store());
  spec.model = ralm::test::tiny_llama(64);
  spec.max_passages = 3;
  spec.dir = ralm::fuzz::work_dir() / "built" / "datastore";
  ralm::dense::build_datastore(*store, spec, false);
  folder = ralm::fuzz::fuzz_folder(spec.dir, "datastore");
  spec.dir = folder->dir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  folder->apply(data, size);
  return ralm::fuzz::expect_only_our_errors([&] {
    ralm::dense::KnnLmOptions options;
    options.k = 4;
    const ralm::dense::KnnLmPolicy policy(store, ralm::dense::open_datastore(*store, spec), options);
    const std::vector<float> key(static_cast<std::size_t>(policy.key_dim()), 0.5f);
    std::vector<float> logits(static_cast<std::size_t>(spec.model->info().vocab_size), 0.0f);
    for (const auto& hits : policy.search(key, options.k)) {
      policy.adjust_with(logits, hits);
      for (const ralm::Hit& hit : hits)
        (void)policy.successors(hit.id, 3);
    }
  });
}
