#include "ralm/core/engine/result_json.hpp"

namespace ralm::core {

std::vector<std::pair<std::string, double>> named_phases(const PhaseTimes& t) {
  return {{"retrieval", t.retrieval},
          {"cache", t.cache},
          {"prefill", t.prefill},
          {"decode", t.decode},
          {"verification", t.verification},
          {"rollback", t.rollback},
          {"other", t.other},
          {"total", t.total},
          {"overlapped", t.overlapped}};
}

ResultJson passages_json(std::span<const Hit> hits, const Retriever* retriever) {
  ResultJson passages = ResultJson::array();
  for (const Hit& h : hits) {
    ResultJson p = {{"id", h.id}, {"score", h.score}};
    if (retriever) {
      const Passage passage = retriever->passage(h.id);
      p["title"] = passage.title;
      p["text"] = passage.text;
    }
    passages.push_back(std::move(p));
  }
  return passages;
}

ResultJson retrieval_records_json(const std::vector<RetrievalRecord>& records, const Retriever* retriever) {
  ResultJson retrievals = ResultJson::array();
  for (const RetrievalRecord& rec : records) {
    retrievals.push_back({{"position", rec.position},
                          {"query", rec.query},
                          {"speculative", rec.speculative},
                          {"passages", passages_json(rec.hits, retriever)}});
  }
  return retrievals;
}

ResultJson phase_times_json(const PhaseTimes& times) {
  ResultJson json = ResultJson::object();
  for (const auto& [name, seconds] : named_phases(times))
    json[name] = seconds;
  return json;
}

ResultJson speculation_stats_json(const SpeculationStats& s) {
  ResultJson json = {{"rounds", s.rounds},
                     {"speculated", s.speculated},
                     {"accepted", s.accepted},
                     {"rollbacks", s.rollbacks},
                     {"real", s.real}};
  // Only a pipeline with engine.draft searches a draft retriever.
  if (s.draft_searches > 0) {
    json.update({{"draft_searches", s.draft_searches},
                 {"draft_speculated", s.draft_speculated},
                 {"draft_accepted", s.draft_accepted}});
  }
  return json;
}

std::string dump_json(const ResultJson& json, int indent) {
  return json.dump(indent, ' ', false, ResultJson::error_handler_t::replace);
}

}  // namespace ralm::core
