#include "ralm/core/engine_params.hpp"

namespace ralm::core {

// Defaults are In-Context RALM's (DESIGN.md §1): retrieve every 4 tokens with
// the last 32 tokens as the query, one passage truncated to 256 tokens.
const ParamSpecs& engine_param_specs() {
  static const ParamSpecs specs = {
      param::integer("stride", 4, "generated tokens between two retrievals").at_least(1),
      param::integer("query_tokens", 32, "the last this many tokens, detokenised, form the retrieval query")
          .at_least(1),
      param::integer("top_k", 1, "passages handed to the context policy at each retrieval").at_least(1),
      param::integer("max_passage_tokens", 256, "each passage is truncated to this many tokens").at_least(1),
      param::integer("max_new_tokens", 64, "tokens to generate per request (fewer if EOS comes first)")
          .at_least(1),
      param::integer("threads", 0, "threads for the model and the retriever; 0: one per core").at_least(0),
  };
  return specs;
}

}  // namespace ralm::core
