// YAML text to a Value tree that remembers file, line and column.
//
// The only file of the project that includes yaml-cpp: everything after it
// works on ralm::Value, so plugins and the rest of the core never see a
// YAML::Node.
#pragma once

#include <filesystem>
#include <string>

#include "ralm/value.hpp"

namespace ralm::core {

// Reads a YAML file. A missing file or malformed YAML is an InputError
// "file:line:column: ..."; an empty file gives an empty map.
Value read_yaml_file(const std::filesystem::path& file);

// Parses one value written on the command line (`--set key=VALUE`): 5 is an
// integer, 0.5 a number, true a boolean, [1, 2] a list, anything else a string.
Value parse_yaml_value(const std::string& text, const Location& where);

}  // namespace ralm::core
