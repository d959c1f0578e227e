#include "ralm/core/sweep/merge_results.hpp"

#include <algorithm>

#include "ralm/error.hpp"

namespace ralm::core {

namespace {

// `text` added to `joined` after `separator` unless an earlier part said it.
void join_distinct(std::string& joined, std::vector<std::string>& seen, const std::string& text,
                   const std::string& separator) {
  if (text.empty() || std::find(seen.begin(), seen.end(), text) != seen.end()) return;
  seen.push_back(text);
  joined += (joined.empty() ? "" : separator) + text;
}

}  // namespace

SweepResults merge_results(const std::vector<NamedResults>& parts) {
  if (parts.empty()) throw InputError("report: which results? name at least one folder");
  if (parts.size() == 1) return parts.front().results;
  SweepResults merged;
  merged.task = parts.front().results.task;
  std::vector<std::string> titles, commands, machines;
  for (const auto& part : parts) {
    const SweepResults& r = part.results;
    if (r.task != merged.task) {
      throw InputError("report: " + part.where + " holds " + r.task + " results, " + parts.front().where +
                       " " + merged.task + " ones; one report shows one task: report them apart");
    }
    join_distinct(merged.title, titles, r.title, " + ");
    join_distinct(merged.command, commands, r.command, "; ");
    join_distinct(merged.machine, machines, r.machine, " / ");
    for (const auto& key : r.setting_keys) {
      if (std::find(merged.setting_keys.begin(), merged.setting_keys.end(), key) == merged.setting_keys.end())
        merged.setting_keys.push_back(key);
    }
    const std::size_t offset = merged.rows.size();
    for (ResultRow row : r.rows) {
      row.baseline += offset;
      merged.rows.push_back(std::move(row));
    }
  }
  return merged;
}

}  // namespace ralm::core
