// A request's result as JSON, in the one shape `ralm ask --json` prints and
// `ralm serve` answers with (docs/SERVING.md): each retrieval with its
// passages' titles and text, the time of each phase, the speculation counts.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ralm/core/engine/request_result.hpp"
#include "ralm/retriever.hpp"

namespace ralm::core {

// Keys in the order they are set, so that the output reads as documented.
using ResultJson = nlohmann::ordered_json;

// The phases in PhaseTimes' order with their names: retrieval, cache,
// prefill, decode, verification, rollback, other, total, then overlapped
// (not part of total).
std::vector<std::pair<std::string, double>> named_phases(const PhaseTimes& times);

// [{"id", "score", "title", "text"}, ...]; without a retriever, id and score
// alone.
ResultJson passages_json(std::span<const Hit> hits, const Retriever* retriever);

// [{"position", "query", "speculative", "passages": [...]}, ...]
ResultJson retrieval_records_json(const std::vector<RetrievalRecord>& records, const Retriever* retriever);

// {"retrieval": seconds, ..., "total": seconds, "overlapped": seconds}
ResultJson phase_times_json(const PhaseTimes& times);

// {"rounds", "speculated", "accepted", "rollbacks", "real"}
ResultJson speculation_stats_json(const SpeculationStats& stats);

// Model output need not be valid UTF-8 (a byte tokenizer, a character cut by
// max_new_tokens): invalid bytes become U+FFFD rather than failing.
std::string dump_json(const ResultJson& json, int indent = -1);

}  // namespace ralm::core
