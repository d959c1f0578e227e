#include "ralm/core/sweep/sweep_grid.hpp"

#include <algorithm>

#include "ralm/error.hpp"

namespace ralm::core {

namespace {

std::string trimmed(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

}  // namespace

std::vector<std::string> split_grid_values(const std::string& list, const std::string& where) {
  std::vector<std::string> values;
  std::string current;
  char quote = 0;
  int depth = 0;  // [ ] and { } nesting: a YAML list or map value keeps its commas
  for (const char c : list) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ',' && depth == 0) {
      values.push_back(trimmed(current));
      current.clear();
      continue;
    }
    current += c;
  }
  if (quote || depth > 0) {
    throw InputError(where + ": unclosed " + (quote ? std::string("quote ") + quote : "bracket") +
                     " in the values; close it, e.g. --grid retriever.index='\"IVF256,Flat\",Flat'");
  }
  values.push_back(trimmed(current));
  return values;
}

GridAxis parse_grid_axis(const std::string& text) {
  const std::string where = "--grid " + text;
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(where + ": expected SECTION.KEY=V1,V2,..., e.g. --grid retriever.k=1,5,10");
  }
  GridAxis axis;
  axis.key = text.substr(0, eq);
  const std::string list = text.substr(eq + 1);
  if (trimmed(list).empty()) {
    throw InputError(where + ": no values to sweep; list them after '=', e.g. --grid " + axis.key + "=1,2");
  }
  axis.values = split_grid_values(list, where);
  for (std::size_t i = 0; i < axis.values.size(); ++i) {
    const std::string& v = axis.values[i];
    if (v.empty()) {
      throw InputError(where + ": value " + std::to_string(i + 1) +
                       " is empty; drop the extra comma (write null for no value)");
    }
    if (std::find(axis.values.begin(), axis.values.begin() + static_cast<std::ptrdiff_t>(i), v) !=
        axis.values.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw InputError(where + ": the value '" + v + "' is listed twice; list each value once");
    }
    axis.overrides.push_back(parse_override(axis.key + "=" + v, "--grid"));
  }
  return axis;
}

std::vector<GridAxis> parse_grid(const std::vector<std::string>& options) {
  std::vector<GridAxis> axes;
  for (const std::string& text : options) {
    GridAxis axis = parse_grid_axis(text);
    for (const GridAxis& other : axes) {
      if (other.key == axis.key) {
        throw InputError("--grid " + text + ": " + axis.key +
                         " is swept by an earlier --grid too; give all its values in one");
      }
    }
    axes.push_back(std::move(axis));
  }
  return axes;
}

std::vector<GridPoint> grid_points(const std::vector<GridAxis>& axes) {
  std::vector<GridPoint> points = {GridPoint{}};
  for (const GridAxis& axis : axes) {
    std::vector<GridPoint> longer;
    for (const GridPoint& p : points) {
      for (std::size_t v = 0; v < axis.values.size(); ++v) {
        GridPoint q = p;
        q.push_back(v);
        longer.push_back(std::move(q));
      }
    }
    points = std::move(longer);
  }
  return points;
}

std::vector<Override> point_overrides(const std::vector<GridAxis>& axes, const GridPoint& point) {
  std::vector<Override> overrides;
  for (std::size_t a = 0; a < axes.size(); ++a)
    overrides.push_back(axes[a].overrides[point[a]]);
  return overrides;
}

}  // namespace ralm::core
