// Checks a pipeline section against a component's parameter documentation.
#pragma once

#include <string>
#include <vector>

#include "ralm/params.hpp"
#include "ralm/value.hpp"

namespace ralm::core {

// Returns a map holding every documented parameter under its current name:
// the given value, or the default. A former name (ParamSpec::aliases) is read
// as the current one, as use_current_param_names does. Path values are
// resolved against the folder of the file that wrote them (the current
// folder for --set). Unknown keys, wrong types, missing required keys, values
// out of range and values not among the choices are each an InputError at
// the value's file:line:column. `owner` names what the documentation belongs
// to ("retriever plugin 'NAME'"); `reserved` lists keys the caller handles
// itself (`plugin`).
Value validate_params(const Value& given, const ParamSpecs& specs, const std::string& section,
                      const std::string& owner, const std::vector<std::string>& reserved = {});

// Renames each key of `section` (a map; anything else is left alone) that is
// a parameter's former name to its current name, logging one deprecation
// line per use ("p.yaml:4:12: scheduler.stride is deprecated: write
// steps_per_round"). Both names in one map is an InputError. `section_name`
// ("scheduler") prefixes the keys in messages.
void use_current_param_names(Value& section, const ParamSpecs& specs, const std::string& section_name);

// Logs "WHERE: WHAT is deprecated: write CURRENT" as a warning, once per
// process for each distinct line.
void warn_deprecated(const Location& where, const std::string& what, const std::string& current);

// "a (int)" etc. for documentation and `ralm plugins show`.
std::string describe_constraints(const ParamSpec& spec);

}  // namespace ralm::core
