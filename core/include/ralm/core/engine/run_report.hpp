// The results of running a pipeline over a set of prompts: totals, files
// written beside them, and the table `ralm run` and `ralm compare` print.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ralm/core/engine/perplexity.hpp"
#include "ralm/core/engine/qa.hpp"
#include "ralm/core/engine/request_result.hpp"
#include "ralm/retriever.hpp"

namespace ralm::core {

struct RunReport {
  std::string pipeline;  // its name
  std::string file;
  std::string task = "generate";         // the task kind: generate, qa or perplexity
  std::vector<RequestResult> results;    // generate and qa: one per request
  std::vector<QaScore> questions;        // qa: one per request, in the same order
  std::vector<DocumentScore> documents;  // perplexity: one per document
  PhaseTimes times;                      // summed over requests or documents
  SpeculationStats speculation;          // summed over requests
  std::int64_t generated = 0, computed = 0, kept = 0;
  std::int64_t prefix_tokens_reused = 0;  // copied from the engine's prefix cache instead of computed
  std::int64_t scored = 0;                // perplexity: target tokens scored
  double nll = 0;                         // perplexity: their summed -log p (nats)
  // Searches answered by other processes (Retriever::remote_search_times()),
  // over the run; absent when the retriever searches in its own process.
  std::optional<Retriever::RemoteSearchTimes> remote_search;

  void add(RequestResult result);
  void add(DocumentScore score);
  double tokens_per_second() const {
    const auto tokens = task == "perplexity" ? scored : generated;
    return times.total > 0 ? static_cast<double>(tokens) / times.total : 0;
  }
  // perplexity: exp(mean NLL per scored token); 0 when nothing was scored.
  double perplexity() const;
  // qa: mean exact match and F1 over the questions, in [0, 1].
  double exact_match() const;
  double f1() const;
};

// How many of `report`'s outputs equal, token for token, those of
// `reference` (the same prompts in the same order).
std::size_t identical_outputs(const RunReport& report, const RunReport& reference);

// The task's figures as summary.json holds them: pipeline, file, task, the
// counts, tokens per second, "times" (each phase in seconds, e.g.
// "retrieval_s"; with remote searches also "shard_search_s", the slowest
// shard's time per batch summed, and "network_s", the rest of the batches'
// round trips) and, but for perplexity, "speculation" (rounds, steps
// speculated and accepted, acceptance, rollbacks, real retrievals); qa adds
// exact match and F1, perplexity its NLL and perplexity.
nlohmann::json run_summary_json(const RunReport& report);

// Writes DIR/outputs.jsonl (one object per request: id, output text and ids,
// retrievals, times; for qa also the question, answers, prediction, exact
// match and F1) or, for perplexity, DIR/documents.jsonl (one object per
// document: id, tokens scored, NLL, perplexity, retrievals, times), and
// DIR/summary.json with the task's figures, each through a temporary name.
void write_run_files(const RunReport& report, const std::filesystem::path& dir);

}  // namespace ralm::core
