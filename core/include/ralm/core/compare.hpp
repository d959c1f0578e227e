// The pipeline's `compare:` section: which pipeline `ralm compare` measures
// it against.
//
//   compare:
//     baseline: quickstart-prepend   # another compared pipeline's `name:`
#pragma once

#include <cstddef>
#include <vector>

#include "ralm/core/pipeline.hpp"
#include "ralm/params.hpp"

namespace ralm::core {

const ParamSpecs& compare_param_specs();

// For each pipeline, the index of the one its speed-up, perplexity change and
// identical outputs are measured against: the first compared pipeline named
// by its compare.baseline, or else the first pipeline. The first pipeline
// without a baseline is its own (the reference). A baseline that names no
// compared pipeline, or the pipeline itself, is an InputError at the value's
// file:line:column naming the pipelines there are.
std::vector<std::size_t> compare_baselines(const std::vector<PipelineSpec>& specs);

}  // namespace ralm::core
