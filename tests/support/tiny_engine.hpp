// A tiny engine for the task tests: a random 2-layer Llama over a byte
// tokenizer and BM25 over the fixture corpus (tests/fixtures/corpus/docs.jsonl,
// 6-word passages). Header-only: its users link ralm_llama_impl and
// ralm_bm25_impl.
#pragma once

#include <memory>
#include <optional>

#include "bm25_index.hpp"
#include "bm25_retriever.hpp"
#include "byte_tokenizer.hpp"
#include "llama_model.hpp"
#include "ralm/core/corpus/corpus_builder.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/llama_format/weights.hpp"
#include "run_command.hpp"

namespace ralm::test {

inline std::shared_ptr<llama::LlamaModel> tiny_llama(std::int32_t context_length = 768) {
  llama::LlamaConfig c;
  c.vocab_size = 262;
  c.hidden_size = 32;
  c.intermediate_size = 45;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = context_length;
  // One thread: ctest runs test binaries side by side, and OpenMP teams
  // that spin-wait collapse when another process holds a core.
  return std::make_shared<llama::LlamaModel>(c, llama::random_llama_weights(c, 5, 0.3),
                                             std::make_unique<ByteTokenizer>(), 1);
}

struct TinyCorpus {
  TempDir dir;
  std::shared_ptr<const PassageStore> store;
  std::shared_ptr<Retriever> retriever;

  // The fixture corpus by default; or any JSONL file of documents.
  explicit TinyCorpus(const std::filesystem::path& docs = RALM_SOURCE_DIR
                      "/tests/fixtures/corpus/docs.jsonl") {
    core::CorpusBuildOptions o;
    o.sources = {core::parse_source("jsonl:" + docs.string())};
    o.out = dir.path() / "corpus";
    o.words_per_passage = 6;
    core::build_corpus(o);
    store = PassageStore::open(o.out);
    bm25::build_index(*store, o.out / "bm25", false);
    retriever = std::make_shared<bm25::Bm25Retriever>(
        store, std::make_unique<bm25::Bm25Index>(o.out / "bm25", *store, 0.9f, 0.4f), 1);
  }
};

}  // namespace ralm::test
