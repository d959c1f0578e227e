// The report's charts, drawn by gnuplot (Debian's gnuplot-nox): each chart is
// one gnuplot script run twice, to SVG for the HTML page (inlined) and to PNG
// for papers, so that both show the same thing.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ralm/core/sweep/sweep_results.hpp"

namespace ralm::core {

struct Chart {
  std::string name;     // "speedup": the PNG is <stem>-speedup.png
  std::string title;    // the heading above it
  std::string caption;  // what it shows and how to read its spread
  std::string svg;      // the <svg> element, ready to inline
  std::filesystem::path png;
};

// The charts the results have: the speed-up of each row against its baseline
// (median, min-max bars, the baseline's Amdahl bound beside speculative
// rows), the median latency stacked by phase, and (when a row speculated)
// the acceptance rate. PNGs are written as `png_stem`-NAME.png. Without
// gnuplot on PATH, an Error saying which package to install.
std::vector<Chart> draw_charts(const SweepResults& results, const std::filesystem::path& png_stem);

}  // namespace ralm::core
