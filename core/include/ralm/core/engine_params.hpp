// The parameters of the request loop itself (the pipeline's `engine:`
// section), documented and validated like a plugin's.
#pragma once

#include "ralm/params.hpp"

namespace ralm::core {

const ParamSpecs& engine_param_specs();

}  // namespace ralm::core
