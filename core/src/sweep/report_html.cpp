#include "ralm/core/sweep/report_html.hpp"

#include "ralm/core/sweep/report_charts.hpp"
#include "ralm/core/sweep/results_table.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::core {

namespace fs = std::filesystem;

std::string html_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

constexpr const char* kStyle = R"(
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.text { text-align: left; }
figure { margin: 1em 0; } figcaption { color: #555; max-width: 60em; }
code { background: #f3f3f3; padding: 1px 4px; }
.meta { color: #555; }
)";

bool numeric(const std::string& cell) {
  return !cell.empty() && (std::isdigit(static_cast<unsigned char>(cell.front())) || cell == "-");
}

}  // namespace

void write_html_report(const SweepResults& results, const fs::path& file) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  const fs::path stem = file.parent_path() / file.stem();
  const std::vector<Chart> charts = draw_charts(results, stem);
  const ResultsTable table = results_table(results);
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
                     html_escape(results.title) + "</title>\n<style>" + kStyle + "</style></head><body>\n";
  html += "<h1>" + html_escape(results.title) + "</h1>\n";
  html += "<p class=\"meta\">Produced by <code>" + html_escape(results.command) + "</code> on " +
          html_escape(results.machine) + "; task: " + html_escape(results.task) +
          ". Figures are medians over each row's repeats, with their min-max in brackets.</p>\n";
  html += "<h2>Results</h2>\n<table id=\"results\"><thead><tr>";
  for (const std::string& h : table.header)
    html += "<th>" + html_escape(h) + "</th>";
  html += "</tr></thead><tbody>\n";
  for (const auto& row : table.rows) {
    html += "<tr>";
    for (const std::string& cell : row)
      html += std::string(numeric(cell) ? "<td>" : "<td class=\"text\">") + html_escape(cell) + "</td>";
    html += "</tr>\n";
  }
  html +=
      "</tbody></table>\n<p class=\"meta\">SPEED-UP: the baseline's wall time over the row's, paired repeat "
      "by repeat. AMDAHL BOUND (speculative rows): the baseline's total / (total - retrieval), the most "
      "that taking retrieval off the critical path could give. IDENTICAL: whether every output equals the "
      "baseline's, token for token.</p>\n";
  for (const Chart& chart : charts) {
    html += "<h2>" + html_escape(chart.title) + "</h2>\n<figure class=\"chart\" id=\"chart-" + chart.name +
            "\">\n" + chart.svg + "\n<figcaption>" + html_escape(chart.caption) + " PNG: <code>" +
            html_escape(chart.png.filename().string()) + "</code>.</figcaption></figure>\n";
  }
  html += "</body></html>\n";
  write_file_atomically(file, [&](std::ostream& out) { out << html; });
}

}  // namespace ralm::core
