// `ralm datastore build PIPELINE [--force]`: builds the kNN-LM datastore of
// the pipeline's policy ahead of a run; `ralm index build` for the policy
// section alone (cmd_index.cpp).
#include "command.hpp"

namespace ralm::cli {

int run_datastore(const std::vector<std::string>& args, const GlobalOptions& global) {
  return build_indexes(args, global, "datastore", {"policy"});
}

}  // namespace ralm::cli
