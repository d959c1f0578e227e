#include "ralm/core/sweep/sweep_results.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "ralm/error.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::core {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The value at fraction `q` of sorted `v`, interpolating between neighbours.
double quantile(const std::vector<double>& v, double q) {
  const double at = q * static_cast<double>(v.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(at));
  const std::size_t above = std::min(below + 1, v.size() - 1);
  return v[below] + (v[above] - v[below]) * (at - static_cast<double>(below));
}

double figure_of(const RunRecord& run, const std::string& name) {
  const auto found = run.figures.find(name);
  return found == run.figures.end() ? 0.0 : found->second;
}

json spread_json(const Spread& s) {
  return {{"median", s.median}, {"q1", s.q1}, {"q3", s.q3}, {"min", s.min}, {"max", s.max}};
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string quoted = "\"";
  for (const char c : s)
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string number(double v) {
  std::ostringstream out;
  out.precision(9);
  out << v;
  return out.str();
}

void write_csv(const fs::path& file, const std::vector<std::vector<std::string>>& lines) {
  write_file_atomically(file, [&](std::ostream& out) {
    for (const auto& line : lines) {
      for (std::size_t i = 0; i < line.size(); ++i)
        out << (i ? "," : "") << csv_cell(line[i]);
      out << "\n";
    }
  });
}

}  // namespace

Spread spread_of(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  return {quantile(values, 0.5), quantile(values, 0.25), quantile(values, 0.75), values.front(),
          values.back()};
}

Spread figure_spread(const ResultRow& row, const std::string& figure) {
  std::vector<double> values;
  for (const RunRecord& run : row.runs)
    values.push_back(figure_of(run, figure));
  return spread_of(std::move(values));
}

std::optional<Spread> speed_up(const SweepResults& results, std::size_t row) {
  const ResultRow& r = results.rows[row];
  if (r.baseline == row) return std::nullopt;
  const ResultRow& base = results.rows[r.baseline];
  std::vector<double> ratios;
  for (const RunRecord& run : r.runs) {
    for (const RunRecord& b : base.runs) {
      if (b.repeat != run.repeat) continue;
      const double wall = figure_of(run, figure::wall);
      if (wall > 0) ratios.push_back(figure_of(b, figure::wall) / wall);
    }
  }
  if (ratios.empty()) return std::nullopt;
  return spread_of(std::move(ratios));
}

std::optional<double> amdahl_bound(const SweepResults& results, std::size_t row) {
  const ResultRow& base = results.rows[results.rows[row].baseline];
  std::vector<double> shares;
  for (const RunRecord& run : base.runs) {
    const double wall = figure_of(run, figure::wall);
    if (wall > 0) shares.push_back(figure_of(run, figure::retrieval) / wall);
  }
  if (shares.empty()) return std::nullopt;
  const double share = spread_of(std::move(shares)).median;
  if (share >= 1) return std::nullopt;
  return 1.0 / (1.0 - share);
}

std::pair<std::size_t, std::size_t> identical_outputs(const SweepResults& results, std::size_t row) {
  const ResultRow& r = results.rows[row];
  if (r.baseline == row || r.runs.empty()) return {0, 0};
  const ResultRow& base = results.rows[r.baseline];
  const std::size_t total = r.runs.front().outputs.size();
  if (total == 0 || base.runs.empty()) return {0, 0};
  std::size_t same = 0;
  for (std::size_t i = 0; i < total; ++i) {
    bool all = true;
    for (const RunRecord& run : r.runs)
      for (const RunRecord& b : base.runs)
        all = all && i < run.outputs.size() && i < b.outputs.size() && run.outputs[i] == b.outputs[i];
    same += all ? 1 : 0;
  }
  return {same, total};
}

std::vector<std::string> figure_names(const SweepResults& results) {
  std::vector<std::string> names;
  for (const ResultRow& row : results.rows)
    for (const RunRecord& run : row.runs)
      for (const auto& [name, value] : run.figures)
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

json results_json(const SweepResults& results) {
  json rows = json::array();
  const std::vector<std::string> names = figure_names(results);
  for (std::size_t i = 0; i < results.rows.size(); ++i) {
    const ResultRow& row = results.rows[i];
    json settings = json::object();
    for (const auto& [key, value] : row.settings)
      settings[key] = value;
    json runs = json::array();
    for (const RunRecord& run : row.runs)
      runs.push_back({{"repeat", run.repeat}, {"figures", run.figures}, {"outputs", run.outputs}});
    json figures = json::object();
    for (const std::string& name : names)
      figures[name] = spread_json(figure_spread(row, name));
    json entry = {{"label", row.label},
                  {"settings", settings},
                  {"baseline", row.baseline},
                  {"baseline_label", results.rows[row.baseline].label},
                  {"speculative", row.speculative},
                  {"runs", runs},
                  {"figures", figures}};
    if (const auto s = speed_up(results, i)) entry["speed_up"] = spread_json(*s);
    if (const auto bound = amdahl_bound(results, i); bound && i != row.baseline)
      entry["baseline_amdahl_bound"] = *bound;
    const auto [same, total] = identical_outputs(results, i);
    if (total > 0) entry["identical_outputs"] = {{"same", same}, {"of", total}};
    rows.push_back(std::move(entry));
  }
  return {{"title", results.title},
          {"task", results.task},
          {"command", results.command},
          {"machine", results.machine},
          {"spread",
           "each figure: median, quartiles q1 and q3 (interquartile range) and min-max over the "
           "repeats; speed_up: the baseline's wall time over the row's, paired by repeat"},
          {"setting_keys", results.setting_keys},
          {"rows", rows}};
}

SweepResults results_from_json(const json& j, const std::string& where) {
  try {
    SweepResults results;
    results.title = j.at("title").get<std::string>();
    results.task = j.at("task").get<std::string>();
    results.command = j.at("command").get<std::string>();
    results.machine = j.at("machine").get<std::string>();
    results.setting_keys = j.at("setting_keys").get<std::vector<std::string>>();
    for (const json& r : j.at("rows")) {
      ResultRow row;
      row.label = r.at("label").get<std::string>();
      for (const std::string& key : results.setting_keys)
        row.settings.emplace_back(key, r.at("settings").at(key).get<std::string>());
      row.baseline = r.at("baseline").get<std::size_t>();
      row.speculative = r.at("speculative").get<bool>();
      for (const json& run : r.at("runs")) {
        RunRecord record;
        record.repeat = run.at("repeat").get<int>();
        for (const auto& [name, value] : run.at("figures").items())
          record.figures[name] = value.get<double>();
        record.outputs = run.at("outputs").get<std::vector<std::string>>();
        row.runs.push_back(std::move(record));
      }
      results.rows.push_back(std::move(row));
    }
    for (const ResultRow& row : results.rows) {
      if (row.baseline >= results.rows.size()) {
        throw InputError(where + ": row '" + row.label + "' names baseline row " +
                         std::to_string(row.baseline) + " of " + std::to_string(results.rows.size()) +
                         "; write the file again with `ralm sweep` or `ralm compare --out`");
      }
    }
    return results;
  } catch (const json::exception& e) {
    throw InputError(where + ": not the results.json of `ralm sweep` or `ralm compare` (" + e.what() +
                     "); give the folder `ralm sweep --out` wrote");
  }
}

void write_results(const SweepResults& results, const fs::path& dir) {
  fs::create_directories(dir);
  const std::vector<std::string> names = figure_names(results);
  std::vector<std::vector<std::string>> per_run;
  std::vector<std::string> header = results.setting_keys;
  header.push_back("repeat");
  header.insert(header.end(), names.begin(), names.end());
  per_run.push_back(header);
  std::vector<std::vector<std::string>> per_row;
  std::vector<std::string> row_header = results.setting_keys;
  row_header.insert(row_header.end(), {"runs", "baseline", "speed_up", "speed_up.min", "speed_up.max",
                                       "baseline_amdahl_bound", "identical_outputs"});
  for (const std::string& name : names)
    row_header.insert(row_header.end(), {name, name + ".min", name + ".max"});
  per_row.push_back(row_header);
  for (std::size_t i = 0; i < results.rows.size(); ++i) {
    const ResultRow& row = results.rows[i];
    std::vector<std::string> settings;
    for (const auto& [key, value] : row.settings)
      settings.push_back(value);
    for (const RunRecord& run : row.runs) {
      std::vector<std::string> line = settings;
      line.push_back(std::to_string(run.repeat + 1));
      for (const std::string& name : names)
        line.push_back(run.figures.count(name) ? number(run.figures.at(name)) : "");
      per_run.push_back(std::move(line));
    }
    std::vector<std::string> line = settings;
    const auto s = speed_up(results, i);
    const auto bound = amdahl_bound(results, i);
    const auto [same, total] = identical_outputs(results, i);
    line.insert(line.end(), {std::to_string(row.runs.size()), results.rows[row.baseline].label,
                             s ? number(s->median) : "", s ? number(s->min) : "", s ? number(s->max) : "",
                             bound && i != row.baseline ? number(*bound) : "",
                             total ? std::to_string(same) + "/" + std::to_string(total) : ""});
    for (const std::string& name : names) {
      const Spread f = figure_spread(row, name);
      line.insert(line.end(), {number(f.median), number(f.min), number(f.max)});
    }
    per_row.push_back(std::move(line));
  }
  write_csv(dir / "results.csv", per_run);
  write_csv(dir / "summary.csv", per_row);
  write_file_atomically(dir / "results.json",
                        [&](std::ostream& out) { out << results_json(results).dump(2) << "\n"; });
}

SweepResults read_results(const fs::path& dir) {
  const fs::path file = dir / "results.json";
  std::ifstream in(file);
  if (!in) {
    throw InputError(file.string() +
                     ": no such file; give the folder `ralm sweep --out` (or `ralm compare "
                     "--out`) wrote");
  }
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(file.string() + ": not JSON (" + e.what() + "); write it again with `ralm sweep`");
  }
  return results_from_json(j, file.string());
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

}  // namespace ralm::core
