#include "ralm/core/sweep/run_figures.hpp"

#include <cstdio>

#include "ralm/core/engine/result_json.hpp"
#include "ralm/passage_store.hpp"

namespace ralm::core {

namespace {

void flatten(const nlohmann::json& j, const std::string& prefix, Figures& out) {
  for (const auto& [key, value] : j.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      flatten(value, name, out);
    } else if (value.is_number()) {
      out[name] = value.get<double>();
    }
  }
}

}  // namespace

Figures run_figures(const RunReport& report) {
  Figures figures;
  flatten(run_summary_json(report), "", figures);
  return figures;
}

std::vector<std::string> output_digests(const RunReport& report) {
  std::vector<std::string> digests;
  for (const RequestResult& r : report.results) {
    const std::uint64_t hash = fnv1a64(r.output.data(), r.output.size() * sizeof(r.output[0]));
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    digests.emplace_back(hex);
  }
  return digests;
}

std::vector<std::string> phase_figures() {
  std::vector<std::string> names;
  for (const auto& [name, seconds] : named_phases(PhaseTimes{})) {
    if (name == "total" || name == "overlapped") continue;
    names.push_back("times." + name + "_s");
  }
  return names;
}

}  // namespace ralm::core
