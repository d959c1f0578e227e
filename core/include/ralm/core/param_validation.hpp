// Checks a pipeline section against a component's parameter documentation.
#pragma once

#include <string>
#include <vector>

#include "ralm/params.hpp"
#include "ralm/value.hpp"

namespace ralm::core {

// Returns a map holding every documented parameter: the given value, or the
// default. Path values are resolved against the folder of the file that wrote
// them (the current folder for --set). Unknown keys, wrong types, missing
// required keys, values out of range and values not among the choices are
// each an InputError at the value's file:line:column. `owner` names what the
// documentation belongs to ("retriever plugin 'NAME'"); `reserved` lists keys
// the caller handles itself (`plugin`).
Value validate_params(const Value& given, const ParamSpecs& specs, const std::string& section,
                      const std::string& owner, const std::vector<std::string>& reserved = {});

// "a (int)" etc. for documentation and `ralm plugins show`.
std::string describe_constraints(const ParamSpec& spec);

}  // namespace ralm::core
