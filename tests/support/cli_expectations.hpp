// What the command-line tests share: the one-line error every bad input must
// give, and the fixture corpus built through `ralm corpus build`.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "run_command.hpp"

namespace ralm::test {

// Exit 2 and exactly one line on stderr, "ralm: error: ...", containing
// `expected`.
inline void expect_input_error(const CommandResult& r, const std::string& expected) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("ralm: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(expected), std::string::npos) << lines[0];
}

// `ralm ARGS...` run in `cwd`, with the plugins this build ships.
inline CommandResult run_ralm(std::vector<std::string> args, const std::filesystem::path& cwd = {}) {
  args.insert(args.begin(), {RALM_EXE, "--plugin-path", RALM_SHIPPED_PLUGIN_DIR});
  return run_command(args, cwd);
}

// tests/fixtures/corpus/docs.jsonl in 6-word passages, built into DIR/corpus
// by `ralm corpus build`.
inline void build_fixture_corpus(const std::filesystem::path& dir) {
  const auto built =
      run_ralm({"corpus", "build", "--source", "jsonl:" RALM_SOURCE_DIR "/tests/fixtures/corpus/docs.jsonl",
                "--words", "6", "--out", (dir / "corpus").string()},
               dir);
  EXPECT_EQ(built.exit_code, 0) << built.err;
}

}  // namespace ralm::test
