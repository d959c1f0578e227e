#include "ralm/core/compare.hpp"

#include <algorithm>

#include "ralm/core/suggest.hpp"
#include "ralm/error.hpp"

namespace ralm::core {

const ParamSpecs& compare_param_specs() {
  static const ParamSpecs specs = {
      param::string("baseline", "",
                    "the `name:` of another pipeline of the same `ralm compare` that this one's speed-up, "
                    "perplexity change and identical outputs are measured against; empty: the first "
                    "pipeline compared"),
  };
  return specs;
}

std::vector<std::size_t> compare_baselines(const std::vector<PipelineSpec>& specs) {
  std::vector<std::string> names;
  for (const PipelineSpec& s : specs)
    names.push_back(s.name);
  std::vector<std::size_t> baselines;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const std::string wanted =
        specs[i].compare.has("baseline") ? specs[i].compare.get_string("baseline") : "";
    if (wanted.empty()) {
      baselines.push_back(0);
      continue;
    }
    const Location where = specs[i].compare.value("baseline").where();
    // The value may come from a base file or a --set: name the pipeline too.
    const std::string of = where.file == specs[i].file ? "" : " (of " + specs[i].file + ")";
    const auto found = std::find(names.begin(), names.end(), wanted);
    if (found == names.end()) {
      throw InputError(where.str() + ": compare.baseline" + of + ": no compared pipeline is named '" +
                       wanted + "'" + did_you_mean(wanted, names) + "; the pipelines compared are " +
                       join_names(names) +
                       " (their `name:`); add the baseline's file to the command or fix "
                       "the name");
    }
    const auto j = static_cast<std::size_t>(found - names.begin());
    if (j == i) {
      throw InputError(where.str() + ": compare.baseline" + of + ": '" + wanted +
                       "' is this pipeline itself; name another of " + join_names(names) +
                       ", or drop the key to compare against the first");
    }
    baselines.push_back(j);
  }
  return baselines;
}

}  // namespace ralm::core
