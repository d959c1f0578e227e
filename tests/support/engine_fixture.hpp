// The request loop's test fixture: the tiny engine (a random Llama on bytes,
// BM25 over a small corpus) with a model wrapper that checks every
// evaluation on a reused KV cache against a fresh evaluation of the whole
// sequence.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "ralm/core/engine/request_loop.hpp"
#include "tiny_engine.hpp"

namespace ralm::test {

namespace fs = std::filesystem;

// Forwards to a model, and checks that every evaluation on a reused cache
// gives the logits a fresh evaluation of the sequence's whole layout gives
// for the same positions.
class CheckingModel final : public Model {
 public:
  explicit CheckingModel(std::shared_ptr<Model> inner) : inner_(std::move(inner)) {}
  const Tokenizer& tokenizer() const override { return inner_->tokenizer(); }
  ModelInfo info() const override { return inner_->info(); }
  std::unique_ptr<Sequence> new_sequence() override { return inner_->new_sequence(); }
  EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) override {
    EvalResult r = inner_->eval(seq, tokens, options);
    auto fresh = inner_->new_sequence();
    const EvalResult all = inner_->eval(*fresh, seq.tokens(), {.all_logits = true});
    const std::size_t row = static_cast<std::size_t>(inner_->info().vocab_size);
    const std::vector<float> want(all.logits.end() - static_cast<std::ptrdiff_t>(r.logits.size()),
                                  all.logits.end());
    ++checked;
    if (r.logits != want || r.logits.size() != row * static_cast<std::size_t>(r.rows)) ++mismatches;
    return r;
  }
  int checked = 0, mismatches = 0;
  const std::shared_ptr<Model>& inner() const { return inner_; }

 private:
  std::shared_ptr<Model> inner_;
};

struct Fixture {
  TinyCorpus corpus;
  std::shared_ptr<CheckingModel> model;  // checks every evaluation on a reused cache
  std::shared_ptr<Model> unchecked;      // the same model without the checks, for long runs
  std::shared_ptr<Retriever> retriever;

  // The fixture corpus by default; or any JSONL file of documents.
  explicit Fixture(const fs::path& docs = RALM_SOURCE_DIR "/tests/fixtures/corpus/docs.jsonl")
      : corpus(docs), model(std::make_shared<CheckingModel>(tiny_llama())), retriever(corpus.retriever) {
    unchecked = model->inner();
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
