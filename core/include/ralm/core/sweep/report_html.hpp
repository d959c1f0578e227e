// The HTML report of a sweep or a comparison: one self-contained file (no
// network, no external reference) with the results table, the charts inlined
// as SVG (report_charts.hpp) and what produced them; the charts' PNGs are
// written beside it, FILE-STEM-NAME.png, for papers.
#pragma once

#include <filesystem>
#include <string>

#include "ralm/core/sweep/sweep_results.hpp"

namespace ralm::core {

// Writes `file` (through a temporary name) and its PNGs.
void write_html_report(const SweepResults& results, const std::filesystem::path& file);

// `text` with &, <, >, " escaped.
std::string html_escape(const std::string& text);

}  // namespace ralm::core
