#include "ralm/core/yaml_reader.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "ralm/error.hpp"

namespace ralm::core {
namespace {

Location at(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return Location{file, 0, 0};
  return Location{file, mark.line + 1, mark.column + 1};
}

// Plain (unquoted) scalars follow the YAML 1.2 core schema; quoted ones are
// always strings, so `"5"` stays the string 5.
Value scalar(const YAML::Node& node, const Location& where) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return Value::string(text, where);
  static const std::regex null_re("~|null|Null|NULL|");
  static const std::regex true_re("true|True|TRUE");
  static const std::regex false_re("false|False|FALSE");
  static const std::regex int_re("[-+]?[0-9]+");
  static const std::regex float_re(
      "[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  if (std::regex_match(text, null_re)) return Value::null(where);
  if (std::regex_match(text, true_re)) return Value::boolean(true, where);
  if (std::regex_match(text, false_re)) return Value::boolean(false, where);
  if (std::regex_match(text, int_re)) {
    errno = 0;
    const long long v = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE) throw InputError(where.str() + ": the integer " + text + " is out of range");
    return Value::integer(v, where);
  }
  if (std::regex_match(text, float_re)) {
    std::string t = text;
    if (t.find("inf") != std::string::npos || t.find("Inf") != std::string::npos ||
        t.find("INF") != std::string::npos) {
      return Value::real(t[0] == '-' ? -HUGE_VAL : HUGE_VAL, where);
    }
    if (t.find('.') == 0 && (t.find("nan") != std::string::npos || t.find("NaN") != std::string::npos ||
                             t.find("NAN") != std::string::npos)) {
      return Value::real(std::nan(""), where);
    }
    return Value::real(std::strtod(t.c_str(), nullptr), where);
  }
  return Value::string(text, where);
}

Value convert(const YAML::Node& node, const std::string& file) {
  const Location where = at(file, node.Mark());
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Value::null(where);
    case YAML::NodeType::Scalar:
      return scalar(node, where);
    case YAML::NodeType::Sequence: {
      Value::List items;
      for (const YAML::Node& item : node)
        items.push_back(convert(item, file));
      return Value::list(std::move(items), where);
    }
    case YAML::NodeType::Map: {
      Value out = Value::map({}, where);
      for (const auto& kv : node) {
        const Location key_at = at(file, kv.first.Mark());
        if (!kv.first.IsScalar()) {
          throw InputError(key_at.str() + ": a key must be a plain word, not a list or a map");
        }
        const std::string key = kv.first.Scalar();
        if (out.find(key) != nullptr) {
          throw InputError(key_at.str() + ": duplicate key '" + key + "'; keep one of the two");
        }
        Value v = convert(kv.second, file);
        // A section (map or list) is located at its key, where a reader looks
        // for it; a scalar at its value, where a wrong type is. A null value
        // has no mark of its own.
        if (v.kind() != Value::Kind::Bool && v.kind() != Value::Kind::Int && v.kind() != Value::Kind::Float &&
            v.kind() != Value::Kind::String) {
          v.set_where(key_at);
        } else if (v.where().line == 0) {
          v.set_where(key_at);
        }
        out.as_map().emplace_back(key, std::move(v));
      }
      return out;
    }
  }
  return Value::null(where);
}

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

Value read_yaml_file(const std::filesystem::path& file) {
  const std::string name = file.string();
  // A device or pipe (`extends: /dev/zero`) would be read forever, and a
  // multi-megabyte file is no pipeline: both are refused before parsing.
  if (std::error_code ec; std::filesystem::exists(file, ec) && !std::filesystem::is_regular_file(file, ec)) {
    throw InputError(name + ": not a regular file; a pipeline is a YAML file, name one");
  }
  constexpr std::uintmax_t kMaxPipelineBytes = 16u << 20;
  if (std::error_code ec; std::filesystem::is_regular_file(file, ec)) {
    if (const std::uintmax_t bytes = std::filesystem::file_size(file, ec); !ec && bytes > kMaxPipelineBytes) {
      throw InputError(name + ": " + std::to_string(bytes) + " bytes, more than a pipeline's limit of " +
                       std::to_string(kMaxPipelineBytes) +
                       "; name the pipeline's YAML file, not a data file");
    }
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
      throw InputError(name +
                       ": no such file; check the path (relative paths start at the current folder, or "
                       "at the including file for `extends:`)");
    }
    throw InputError(name + ": cannot be read; check its permissions");
  }
  std::stringstream text;
  text << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    throw InputError(at(name, e.mark).str() + ": malformed YAML: " + one_line(e.msg));
  }
  Value v = convert(root, name);
  if (v.kind() == Value::Kind::Null) return Value::map({}, Location{name, 1, 1});
  return v;
}

Value parse_yaml_value(const std::string& text, const Location& where) {
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(where.str() + ": malformed value '" + text + "': " + one_line(e.msg));
  }
  Value v = convert(node, where.file);
  // Command-line values have no lines: every part is at the option itself.
  struct Relocate {
    static void apply(Value& value, const Location& loc) {
      value.set_where(loc);
      if (value.kind() == Value::Kind::Map) {
        for (auto& [k, item] : value.as_map())
          apply(item, loc);
      }
      if (value.kind() == Value::Kind::List) {
        Value::List items = value.as_list();
        for (Value& item : items)
          apply(item, loc);
        value = Value::list(std::move(items), loc);
      }
    }
  };
  Relocate::apply(v, where);
  return v;
}

}  // namespace ralm::core
