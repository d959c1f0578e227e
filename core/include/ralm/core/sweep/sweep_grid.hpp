// `ralm sweep`'s grid: the axes `--grid KEY=V1,V2,...` name, and the points
// of their product, each a set of `--set` overrides.
//
//   --grid scheduler.steps_per_round=2,4,8 --grid engine.prefetch=1,20
//
// A value is what `--set KEY=VALUE` takes (YAML); one with a comma of its own
// is quoted ('"IVF256,Flat"') or bracketed ("[1, 2]"). The values are
// validated where `--set` values are, by loading the pipeline with them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ralm/core/pipeline.hpp"

namespace ralm::core {

struct GridAxis {
  std::string key;                  // "scheduler.steps_per_round"
  std::vector<std::string> values;  // as written: "2", "4", "8"
  std::vector<Override> overrides;  // one per value, located at "--grid KEY=V"
};

// Parses one `--grid KEY=V1,V2,...`; no `=`, no values, an empty or a
// repeated value is an InputError naming the option.
GridAxis parse_grid_axis(const std::string& text);

// The values of "V1,V2,...": split at commas outside quotes and brackets,
// each trimmed. A list with an unclosed quote or bracket is an InputError
// naming `where`.
std::vector<std::string> split_grid_values(const std::string& list, const std::string& where);

// Parses every `--grid`; a key given twice is an InputError.
std::vector<GridAxis> parse_grid(const std::vector<std::string>& options);

// One point of the grid: the index of each axis' value, the first axis
// varying slowest.
using GridPoint = std::vector<std::size_t>;

// Every point of the axes' product, in order (one empty point for no axes).
std::vector<GridPoint> grid_points(const std::vector<GridAxis>& axes);

// The overrides of a point, in the axes' order.
std::vector<Override> point_overrides(const std::vector<GridAxis>& axes, const GridPoint& point);

}  // namespace ralm::core
