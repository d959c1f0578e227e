#include "ralm/core/engine/request_result.hpp"

namespace ralm::core {

PhaseTimes& PhaseTimes::operator+=(const PhaseTimes& o) {
  retrieval += o.retrieval;
  prefill += o.prefill;
  decode += o.decode;
  verification += o.verification;
  rollback += o.rollback;
  other += o.other;
  total += o.total;
  return *this;
}

}  // namespace ralm::core
