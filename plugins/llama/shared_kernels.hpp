// The llama plugin computes on the shared kernels (ralm_kernels,
// plugins/common/kernels): their names, seen from the plugin's own namespace
// as its code has always used them.
#pragma once

#include "ralm/kernels/kernels.hpp"
#include "ralm/kernels/thread_pool.hpp"

namespace ralm::llama {

using namespace ralm::kernels;

}  // namespace ralm::llama
