#include "ralm/core/engine/request_result.hpp"

namespace ralm::core {

PhaseTimes& PhaseTimes::operator+=(const PhaseTimes& o) {
  retrieval += o.retrieval;
  cache += o.cache;
  prefill += o.prefill;
  decode += o.decode;
  verification += o.verification;
  rollback += o.rollback;
  other += o.other;
  total += o.total;
  overlapped += o.overlapped;
  queued += o.queued;
  return *this;
}

SpeculationStats& SpeculationStats::operator+=(const SpeculationStats& o) {
  rounds += o.rounds;
  speculated += o.speculated;
  accepted += o.accepted;
  rollbacks += o.rollbacks;
  real += o.real;
  draft_searches += o.draft_searches;
  draft_seconds += o.draft_seconds;
  draft_speculated += o.draft_speculated;
  draft_accepted += o.draft_accepted;
  return *this;
}

}  // namespace ralm::core
