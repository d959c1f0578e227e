// The request loop's test fixture: a tiny random Llama on bytes, BM25 over
// the fixture corpus, and a model wrapper that checks every evaluation on a
// reused KV cache against a fresh evaluation of the whole sequence.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "bm25_index.hpp"
#include "bm25_retriever.hpp"
#include "llama_model.hpp"
#include "llama_weights.hpp"
#include "ralm/core/corpus/corpus_builder.hpp"
#include "ralm/core/engine/request_loop.hpp"
#include "run_command.hpp"

namespace ralm::test {

namespace fs = std::filesystem;

// Bytes as tokens: id = byte + 3; 1 is BOS. EOS is outside the vocabulary, so
// a random model never stops early and every test runs its full length.
class ByteTokenizer final : public Tokenizer {
 public:
  Tokens encode(std::string_view text, bool add_bos) const override {
    Tokens out;
    if (add_bos) out.push_back(1);
    for (unsigned char c : text)
      out.push_back(static_cast<TokenId>(c) + 3);
    return out;
  }
  std::string decode(std::span<const TokenId> ids) const override {
    std::string s;
    for (TokenId id : ids) {
      if (id >= 3 && id < 259) s.push_back(static_cast<char>(id - 3));
    }
    return s;
  }
  std::string piece(TokenId id) const override { return decode(std::span(&id, 1)); }
  std::int32_t vocab_size() const override { return 262; }
  TokenId bos() const override { return 1; }
  TokenId eos() const override { return 262; }
  std::optional<TokenId> special(std::string_view) const override { return std::nullopt; }
};

// Forwards to a model, and checks that every evaluation on a reused cache
// gives the logits a fresh evaluation of the sequence's whole layout gives.
class CheckingModel final : public Model {
 public:
  explicit CheckingModel(std::shared_ptr<Model> inner) : inner_(std::move(inner)) {}
  const Tokenizer& tokenizer() const override { return inner_->tokenizer(); }
  ModelInfo info() const override { return inner_->info(); }
  std::unique_ptr<Sequence> new_sequence() override { return inner_->new_sequence(); }
  EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) override {
    EvalResult r = inner_->eval(seq, tokens, options);
    auto fresh = inner_->new_sequence();
    const EvalResult want = inner_->eval(*fresh, seq.tokens(), options);
    ++checked;
    if (r.logits != want.logits) ++mismatches;
    return r;
  }
  int checked = 0, mismatches = 0;

 private:
  std::shared_ptr<Model> inner_;
};

struct Fixture {
  TempDir dir;
  std::shared_ptr<CheckingModel> model;  // checks every evaluation on a reused cache
  std::shared_ptr<Model> unchecked;      // the same model without the checks, for long runs
  std::shared_ptr<Retriever> retriever;

  // The fixture corpus by default; or any JSONL file of documents.
  explicit Fixture(const fs::path& docs = RALM_SOURCE_DIR "/tests/fixtures/corpus/docs.jsonl") {
    llama::LlamaConfig c;
    c.vocab_size = 262;
    c.hidden_size = 32;
    c.intermediate_size = 45;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 8;
    c.max_position_embeddings = 768;
    // One thread: ctest runs test binaries side by side, and OpenMP teams
    // that spin-wait collapse when another process holds a core.
    auto llama = std::make_shared<llama::LlamaModel>(c, llama::random_llama_weights(c, 5, 0.3),
                                                     std::make_unique<ByteTokenizer>(), 1);
    model = std::make_shared<CheckingModel>(llama);
    unchecked = llama;
    core::CorpusBuildOptions o;
    o.sources = {core::parse_source("jsonl:" + docs.string())};
    o.out = dir.path() / "corpus";
    o.words_per_passage = 6;
    core::build_corpus(o);
    auto store = PassageStore::open(o.out);
    bm25::build_index(*store, o.out / "bm25", false);
    retriever = std::make_shared<bm25::Bm25Retriever>(
        store, std::make_unique<bm25::Bm25Index>(o.out / "bm25", *store, 0.9f, 0.4f), 1);
  }

  core::BuiltPipeline pipeline(std::shared_ptr<ContextPolicy> policy, bool checked = true) const {
    core::BuiltPipeline p;
    p.model = checked ? std::shared_ptr<Model>(model) : unchecked;
    p.retriever = retriever;
    p.policy = std::move(policy);
    return p;
  }
};

inline core::EngineSettings settings(std::int32_t stride, std::int32_t new_tokens,
                                     std::int32_t passage_tokens = 40) {
  core::EngineSettings s;
  s.stride = stride;
  s.query_tokens = 32;
  s.top_k = 1;
  s.max_passage_tokens = passage_tokens;
  s.max_new_tokens = new_tokens;
  return s;
}

}  // namespace ralm::test
