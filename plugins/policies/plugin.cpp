// The `policies` plugin: context policies (`none` so far; prepend and append
// join it with the engine).
#include "none_policy.hpp"
#include "ralm/ralm.hpp"

RALM_PLUGIN("policies", "0.1.0", "context policies") {
  registrar.add<ralm::ContextPolicy>("none",
                                     "no retrieval: the model alone, the baseline of every comparison", {},
                                     [](const ralm::Params&, ralm::BuildContext&) {
                                       return std::make_unique<ralm::policies::NonePolicy>();
                                     });
}
