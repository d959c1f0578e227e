#include "batched_pipeline.hpp"

#include <memory>
#include <utility>

namespace ralm::core {

namespace {

class BatchedModel final : public Model {
 public:
  BatchedModel(std::shared_ptr<Model> model, ContinuousBatcher& batcher)
      : model_(std::move(model)), batcher_(batcher) {}

  const Tokenizer& tokenizer() const override { return model_->tokenizer(); }
  ModelInfo info() const override { return model_->info(); }
  std::unique_ptr<Sequence> new_sequence() override { return model_->new_sequence(); }

  EvalResult eval(Sequence& seq, std::span<const TokenId> tokens, const EvalOptions& options) override {
    return batcher_.eval(seq, tokens, options);
  }
  // The request loop evaluates one sequence at a time; a caller with several
  // sends each to the batcher in turn (the batch forms across requests).
  std::vector<EvalResult> eval_batch(std::span<Sequence* const> seqs,
                                     std::span<const std::span<const TokenId>> tokens,
                                     const EvalOptions& options) override {
    std::vector<EvalResult> results;
    results.reserve(seqs.size());
    for (std::size_t i = 0; i < seqs.size(); ++i)
      results.push_back(batcher_.eval(*seqs[i], tokens[i], options));
    return results;
  }

  TokenId add_special_token(std::string_view name) override { return model_->add_special_token(name); }
  void load_adapter(const std::string& name, const std::filesystem::path& dir) override {
    model_->load_adapter(name, dir);
  }
  void set_active_adapter(const std::string& name) override { model_->set_active_adapter(name); }
  void save(const std::filesystem::path& dir, const SaveOptions& options) override {
    model_->save(dir, options);
  }

 private:
  std::shared_ptr<Model> model_;
  ContinuousBatcher& batcher_;
};

class BatchedRetriever final : public Retriever {
 public:
  BatchedRetriever(std::shared_ptr<Retriever> retriever, ContinuousBatcher& batcher)
      : retriever_(std::move(retriever)), batcher_(batcher) {}

  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t k) override {
    return batcher_.search(queries, k);
  }
  // Scoring runs between steps: a retriever may encode the query with the
  // model the steps evaluate.
  std::vector<float> score(std::string_view query, std::span<const PassageId> ids) override {
    std::vector<float> scores;
    batcher_.run_between_steps([&] { scores = retriever_->score(query, ids); });
    return scores;
  }
  std::vector<float> score_batch(std::span<const std::string> queries,
                                 std::span<const PassageId> ids) override {
    std::vector<float> scores;
    batcher_.run_between_steps([&] { scores = retriever_->score_batch(queries, ids); });
    return scores;
  }
  Passage passage(PassageId id) const override { return retriever_->passage(id); }
  std::int64_t size() const override { return retriever_->size(); }

 private:
  std::shared_ptr<Retriever> retriever_;
  ContinuousBatcher& batcher_;
};

}  // namespace

BuiltPipeline batched_pipeline(const BuiltPipeline& pipeline, ContinuousBatcher& batcher) {
  BuiltPipeline batched = pipeline;
  if (pipeline.model) batched.model = std::make_shared<BatchedModel>(pipeline.model, batcher);
  if (pipeline.retriever) batched.retriever = std::make_shared<BatchedRetriever>(pipeline.retriever, batcher);
  return batched;
}

}  // namespace ralm::core
