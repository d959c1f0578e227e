// The perplexity task (In-Context RALM's and FlashBack's evaluation): held-out
// text scored stride by stride, each stride's targets conditioned on the
// passages retrieved with the preceding `query_tokens` tokens as the query,
// never on the scored document's own passages.
//
// A document's tokens are scored in windows of at most `window` text tokens.
// The first window starts at the document's start; each later one begins with
// (at most) half a window of already-scored tokens as unscored context, then
// scores the rest, a whole number of strides. Within a window the text so far
// plays the request loop's part of input ⊕ generated: before each stride the
// policy returns the layout (prepend, append, none), the cache keeps what the
// policy allows, the layout's last position predicts the first target, and the
// stride's other targets are evaluated after it with logits at every position.
// A policy that adjusts logits (kNN-LM) rewrites each position's logits, given
// its key, before the target is scored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ralm/core/engine/request_loop.hpp"
#include "ralm/core/engine/request_result.hpp"
#include "ralm/core/pipeline_builder.hpp"
#include "ralm/passage_store.hpp"

namespace ralm::core {

// One held-out document and what identifies its own passages in the corpus.
struct HeldOutDocument {
  std::string id;
  std::string title;  // non-empty: passages with this title are its own (text/JSONL input)
  std::string text;
  std::int64_t corpus_document = -1;  // >= 0: the store's document number (corpus input)
};

// A .jsonl file ({"id", "title", "text"} per line) gives one document a line;
// any other file is one untitled document. A missing or empty file, or a
// malformed line, is an InputError naming the file (and line).
std::vector<HeldOutDocument> read_held_out_text(const std::filesystem::path& file);

// Documents 0, step, 2·step, ... of a passage store, each the text of its
// passages joined by spaces.
std::vector<HeldOutDocument> held_out_corpus_documents(const PassageStore& store, std::int64_t step);

struct PerplexitySettings {
  EngineSettings engine;    // stride, query_tokens, top_k, max_passage_tokens (max_new_tokens unused)
  std::int32_t window = 0;  // text tokens the model sees at once; 0: as many as fit
};

// How one document scored.
struct DocumentScore {
  std::string id;
  std::int64_t tokens = 0;  // targets scored
  double nll = 0;           // their summed -log p, in nats
  std::int64_t tokens_computed = 0;
  std::int32_t windows = 0;
  // Retrievals by the document token before which they happened (`position`);
  // a blank query window keeps the previous passages.
  std::vector<RetrievalRecord> retrievals;
  PhaseTimes times;  // prefill: evaluations of several tokens; decode: of one
};

class PerplexityEvaluator {
 public:
  // The pipeline needs a model and a policy, and a retriever when the policy
  // uses passages. `corpus`, when given, is the store the held-out documents
  // came from: the retriever must search it (same passages), so that a hit's
  // document is known. A window that does not fit the model's context with
  // the passages, or is under two strides, is an InputError.
  PerplexityEvaluator(const BuiltPipeline& pipeline, PerplexitySettings settings,
                      std::shared_ptr<const PassageStore> corpus = nullptr);

  // Scores the document's first `max_tokens` tokens (all when 0).
  DocumentScore score(const HeldOutDocument& document, std::int64_t max_tokens = 0);

  std::int32_t window() const { return window_; }

 private:
  struct Scoring;
  void score_window(Scoring& s, std::size_t context_begin, std::size_t begin, std::size_t end);
  std::vector<Hit> search_excluding(const HeldOutDocument& document, const std::string& query);

  const BuiltPipeline& pipeline_;
  PerplexitySettings settings_;
  std::shared_ptr<const PassageStore> corpus_;
  std::int32_t window_ = 0;
};

}  // namespace ralm::core
