// A dense retriever over an engine fixture's passages, for the speculation
// tests: `Flat` is the exact scan; an approximate FAISS index probing one
// list in four misses often, so speculation must agree with the retriever's
// own ranking, not with the truth.
#pragma once

#include <memory>
#include <string>

#include "dense_index_files.hpp"
#include "dense_retriever.hpp"
#include "engine_fixture.hpp"

namespace ralm::test {

inline std::shared_ptr<Retriever> dense_retriever(const Fixture& f, const std::string& index) {
  dense::DenseIndexSpec spec;
  spec.lsa.dim = 16;
  spec.lsa.min_df = 1;
  spec.index = index;
  spec.threads = 1;
  spec.dir = f.corpus.store->dir() / spec.default_folder_name();
  if (!dense::dense_index_exists(spec)) dense::build_dense_index(*f.corpus.store, spec, false);
  auto files = dense::open_dense_index(*f.corpus.store, spec);
  if (files.faiss) files.faiss->set_search_parameters(/*nprobe=*/1, /*efSearch=*/0);
  return std::make_shared<dense::DenseRetriever>(f.corpus.store, std::move(files), spec.metric, 1, 1);
}

}  // namespace ralm::test
