// The `ralm` command as a user meets it: output, exit codes, and one clear
// line for every kind of bad input.
#include <gtest/gtest.h>

#include <cstdlib>

#include "cli_expectations.hpp"
#include "ralm/version.hpp"
#include "run_command.hpp"

namespace {

using ralm::test::CommandResult;
using ralm::test::run_command;
using ralm::test::TempDir;

const std::string kFixtures = RALM_FIXTURE_PLUGIN_DIR;

CommandResult ralm_cmd(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
  args.insert(args.begin(), RALM_EXE);
  return run_command(args, {}, env);
}

// A bad input: exit status 2, and exactly one line on stderr that contains
// `expected`.
using ralm::test::expect_input_error;

TEST(Cli, PluginsListsEveryShippedComponentWithItsLibrary) {
  const auto r = ralm_cmd({"plugins"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("KIND"), std::string::npos);
  for (const std::string name : {"fixed", "os3", "none", "llama", "bm25"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  EXPECT_NE(r.out.find("libralm-schedulers.so"), std::string::npos);
  EXPECT_NE(r.out.find("libralm-policies.so"), std::string::npos);
}

TEST(Cli, PluginsShowDocumentsEveryParameter) {
  const auto r = ralm_cmd({"plugins", "show", "os3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string p : {"initial_steps_per_round", "max_steps_per_round", "gamma_window", "gamma_cap",
                              "latency_window", "objective"}) {
    EXPECT_NE(r.out.find(p), std::string::npos) << p;
  }
  EXPECT_NE(r.out.find("between 0 and 1"), std::string::npos) << r.out;
  const auto fixture = ralm_cmd(
      {"plugins", "show", "retriever/fixture-retriever", "--plugin-path", kFixtures + "/fixture-good"});
  ASSERT_EQ(fixture.exit_code, 0) << fixture.err;
  EXPECT_NE(fixture.out.find("(required)"), std::string::npos) << fixture.out;
  expect_input_error(ralm_cmd({"plugins", "show", "os4"}), "no component named 'os4' (did you mean 'os3'?)");
}

TEST(Cli, PluginsShowListsFormerNames) {
  const auto fixed = ralm_cmd({"plugins", "show", "fixed"});
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_NE(fixed.out.find("steps_per_round"), std::string::npos) << fixed.out;
  EXPECT_NE(fixed.out.find("former parameter names, still accepted with a warning:\n  FORMER NAME  WRITE\n"
                           "  stride       steps_per_round\n"),
            std::string::npos)
      << fixed.out;
  // A component is found by its former name too, and says so.
  const auto dense = ralm_cmd({"plugins", "show", "faiss"});
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  EXPECT_EQ(dense.out.rfind("retriever 'dense': ", 0), 0u) << dense.out;
  EXPECT_NE(dense.out.find("\nformer name, still accepted with a warning: faiss\n"), std::string::npos)
      << dense.out;
  // What the core may ask of a component without building it is shown too.
  EXPECT_NE(dense.out.find("\nkeeps its index on disk: `ralm index build PIPELINE` builds it\n"),
            std::string::npos)
      << dense.out;
  const auto llama = ralm_cmd({"plugins", "show", "model/llama"});
  EXPECT_NE(llama.out.find("\nclaims the checkpoints it reads"), std::string::npos) << llama.out;
  EXPECT_EQ(fixed.out.find("keeps its"), std::string::npos) << fixed.out;
  const auto list = ralm_cmd({"plugins"});
  EXPECT_EQ(list.out.find("faiss  "), std::string::npos) << list.out;  // listed under its current name
}

TEST(Cli, FormerNamesAreAcceptedWithOneDeprecationLineEach) {
  TempDir dir;
  const auto file = dir.write("p.yaml",
                              "retriever:\n  plugin: faiss\n  corpus: corpus\n"
                              "scheduler:\n  plugin: os3\n  max_stride: 8\n  initial_stride: 2\n");
  const auto r = ralm_cmd({"validate", file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 3u) << r.err;
  EXPECT_NE(lines[0].find(file.string() + ":2:11: retriever plugin 'faiss' is deprecated: write 'dense'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(
      lines[1].find(file.string() + ":6:15: scheduler.max_stride is deprecated: write max_steps_per_round"),
      std::string::npos)
      << r.err;
  EXPECT_NE(lines[2].find(file.string() +
                          ":7:19: scheduler.initial_stride is deprecated: write initial_steps_per_round"),
            std::string::npos)
      << r.err;
  // `ralm validate` prints the current names only.
  EXPECT_NE(r.out.find("retriever: dense"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max_steps_per_round      8"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("_stride"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("faiss"), std::string::npos) << r.out;

  // The same through --set.
  const auto fixed = dir.write("fixed.yaml", "scheduler:\n  plugin: fixed\n");
  const auto set = ralm_cmd({"validate", fixed.string(), "--set", "scheduler.stride=6"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  ASSERT_EQ(set.err_lines().size(), 1u) << set.err;
  EXPECT_NE(set.err.find("--set scheduler.stride=6: scheduler.stride is deprecated: write steps_per_round"),
            std::string::npos)
      << set.err;
  EXPECT_NE(set.out.find("steps_per_round  6"), std::string::npos) << set.out;
}

TEST(Cli, BothNamesOfOneParameterInOneSectionIsAnError) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "scheduler:\n  plugin: fixed\n  stride: 2\n  steps_per_round: 3\n");
  expect_input_error(
      ralm_cmd({"validate", file.string()}),
      file.string() +
          ":3:11: scheduler: both 'stride' and 'steps_per_round' are given, and 'stride' is the "
          "former name of 'steps_per_round'; keep only steps_per_round");
}

TEST(Cli, ThePluginPathComesFromTheOptionAndTheEnvironment) {
  const auto opt = ralm_cmd({"plugins", "--plugin-path", kFixtures + "/fixture-good"});
  ASSERT_EQ(opt.exit_code, 0) << opt.err;
  EXPECT_NE(opt.out.find("fixture-retriever"), std::string::npos);
  const auto env = ralm_cmd({"plugins"}, {"RALMKIT_PLUGIN_PATH=/nonexistent:" + kFixtures + "/fixture-good"});
  ASSERT_EQ(env.exit_code, 0) << env.err;
  EXPECT_NE(env.out.find("fixture-retriever"), std::string::npos);
  const auto without = ralm_cmd({"plugins"});
  EXPECT_EQ(without.out.find("fixture-retriever"), std::string::npos);
}

TEST(Cli, ValidatePrintsTheResolvedPipeline) {
  const auto r =
      ralm_cmd({"validate", RALM_SOURCE_DIR "/pipelines/quickstart.yaml", "--set", "engine.stride=8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("policy: none"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--set engine.stride=8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("quickstart.yaml: valid"), std::string::npos) << r.out;
  const auto quiet = ralm_cmd({"validate", "-q", RALM_SOURCE_DIR "/pipelines/quickstart.yaml"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.out, "");
}

TEST(Cli, EveryShippedPipelineValidatesWithCurrentNamesOnly) {
  for (const auto& item : std::filesystem::recursive_directory_iterator(RALM_SOURCE_DIR "/pipelines")) {
    if (item.path().extension() != ".yaml") continue;
    const auto r = ralm_cmd({"validate", "-q", item.path().string()});
    EXPECT_EQ(r.exit_code, 0) << item.path() << ": " << r.err;
    EXPECT_EQ(r.err.find("deprecated"), std::string::npos) << item.path() << ": " << r.err;
  }
}

TEST(Cli, RunDryRunBuildsEveryComponent) {
  const auto r =
      ralm_cmd({"run", RALM_SOURCE_DIR "/pipelines/quickstart.yaml", "--dry-run", "--log-level", "info"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("built 2 component(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("threads: engine"), std::string::npos) << r.err;  // the thread layout is logged
}

// Whether the thread layout line lists `assignment` (NAME=VALUE) whole.
bool logs_variable(const std::string& log, const std::string& assignment) {
  for (std::size_t at = log.find(assignment); at != std::string::npos; at = log.find(assignment, at + 1)) {
    const std::size_t end = at + assignment.size();
    if (end == log.size() || log[end] == ',' || log[end] == '\n') return true;
  }
  return false;
}

// OpenBLAS loads with one thread unless the user chose a count: its own
// threads would only spin beside the model's pool
// (plugins/common/openblas_threads/openblas_threads.cpp).
TEST(Cli, OpenBlasLoadsSingleThreadedUnlessTheUserChose) {
  const std::vector<std::string> args = {"run", RALM_SOURCE_DIR "/pipelines/quickstart.yaml", "--dry-run",
                                         "--log-level", "info"};
  const auto chosen = ralm_cmd(args, {"OPENBLAS_NUM_THREADS=3"});
  ASSERT_EQ(chosen.exit_code, 0) << chosen.err;
  EXPECT_TRUE(logs_variable(chosen.err, "OPENBLAS_NUM_THREADS=3")) << chosen.err;
  const char* inherited = std::getenv("OPENBLAS_NUM_THREADS");
  const auto r = ralm_cmd(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(logs_variable(r.err, std::string("OPENBLAS_NUM_THREADS=") + (inherited ? inherited : "1")))
      << r.err;
}

TEST(Cli, RunWithoutATaskSaysHowToAddOne) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "policy:\n  plugin: none\n");
  expect_input_error(ralm_cmd({"run", file.string()}),
                     "the pipeline has no task; add `task: {kind: generate");
}

TEST(Cli, FactoryErrorsPointAtTheYaml) {
  TempDir dir;
  const auto file = dir.write(
      "p.yaml", "scheduler:\n  plugin: os3\n  initial_steps_per_round: 9\n  max_steps_per_round: 4\n");
  expect_input_error(
      ralm_cmd({"run", file.string(), "--dry-run"}),
      file.string() + ":3:28: scheduler.initial_steps_per_round: 9 is larger than max_steps_per_round (4)");
}

TEST(Cli, VersionAndHelp) {
  const auto v = ralm_cmd({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("ralm 0.1.0 (plugin ABI " + std::to_string(RALM_SDK_ABI_VERSION)), std::string::npos)
      << v.out;
  const auto h = ralm_cmd({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("Exit status: 0 success, 1 runtime failure, 2 bad usage or bad input"),
            std::string::npos);
  for (const std::string command : {"plugins", "validate", "run"}) {
    const auto sub = ralm_cmd({command, "--help"});
    EXPECT_EQ(sub.exit_code, 0) << command;
    EXPECT_NE(sub.out.find("usage: ralm " + command), std::string::npos) << sub.out;
    EXPECT_NE(sub.out.find("--plugin-path"), std::string::npos) << sub.out;
  }
  EXPECT_EQ(ralm_cmd({}).exit_code, 2);
}

TEST(CliBadInput, UnknownCommandAndOptions) {
  expect_input_error(ralm_cmd({"valdate"}), "unknown command 'valdate' (did you mean 'validate'?)");
  expect_input_error(ralm_cmd({"validate", RALM_SOURCE_DIR "/pipelines/quickstart.yaml", "--sett", "a.b=1"}),
                     "validate: unrecognised option '--sett'");
  expect_input_error(ralm_cmd({"validate"}), "which pipeline? name its YAML file");
  expect_input_error(ralm_cmd({"plugins", "--log-level", "loud"}), "unknown log level 'loud'");
  expect_input_error(ralm_cmd({"validate", RALM_SOURCE_DIR "/pipelines/quickstart.yaml", "--set", "engine"}),
                     "--set engine: expected SECTION.KEY=VALUE");
}

TEST(CliBadInput, MalformedYaml) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "policy:\n  plugin: none\n bad indent: [\n");
  expect_input_error(ralm_cmd({"validate", file.string()}), file.string() + ":3:");
  expect_input_error(ralm_cmd({"validate", file.string()}), "malformed YAML");
}

TEST(CliBadInput, UnknownKey) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "scheduler:\n  plugin: os3\n  gama_cap: 0.5\n");
  expect_input_error(ralm_cmd({"validate", file.string()}),
                     file.string() +
                         ":3:13: scheduler: unknown key 'gama_cap' for scheduler plugin 'os3' (did "
                         "you mean 'gamma_cap'?)");
  // Former names are candidates too, and the suggestion is the current name.
  const auto current = dir.write("c.yaml", "scheduler:\n  plugin: fixed\n  steps_per_rond: 2\n");
  expect_input_error(ralm_cmd({"validate", current.string()}),
                     "scheduler: unknown key 'steps_per_rond' for scheduler plugin 'fixed' (did you mean "
                     "'steps_per_round'?); its keys are: steps_per_round (`ralm plugins show`");
  const auto former = dir.write("f.yaml", "scheduler:\n  plugin: os3\n  max_strid: 2\n");
  expect_input_error(
      ralm_cmd({"validate", former.string()}),
      "unknown key 'max_strid' for scheduler plugin 'os3' (did you mean 'max_steps_per_round'?)");
}

TEST(CliBadInput, WrongType) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "engine:\n  stride: four\n");
  expect_input_error(ralm_cmd({"validate", file.string()}),
                     file.string() + ":2:11: engine.stride: expected an integer, found the string 'four'");
}

TEST(CliBadInput, MissingRequiredKey) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "retriever:\n  plugin: fixture-retriever\n");
  expect_input_error(ralm_cmd({"validate", file.string(), "--plugin-path", kFixtures + "/fixture-good"}),
                     file.string() + ":1:1: retriever: missing required key 'index'");
}

TEST(CliBadInput, MissingPipelineFile) {
  expect_input_error(ralm_cmd({"validate", "/nonexistent/pipeline.yaml"}),
                     "/nonexistent/pipeline.yaml: no such file");
}

TEST(CliBadInput, ExtendsCycle) {
  TempDir dir;
  dir.write("a.yaml", "extends: b.yaml\n");
  dir.write("b.yaml", "extends: a.yaml\n");
  expect_input_error(ralm_cmd({"validate", (dir.path() / "a.yaml").string()}),
                     "extends cycle: a.yaml -> b.yaml -> a.yaml");
}

TEST(CliBadInput, UnknownPluginName) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "policy:\n  plugin: prepnd\n");
  expect_input_error(ralm_cmd({"validate", file.string()}),
                     file.string() +
                         ":2:11: policy.plugin: unknown policy plugin 'prepnd' (did you mean 'prepend'?); "
                         "available: append, knnlm, none, prepend");
}

TEST(CliBadInput, ASharedLibraryThatIsNotAPlugin) {
  expect_input_error(ralm_cmd({"plugins", "--plugin-path", kFixtures + "/fixture-not-a-plugin"}),
                     "libralm-fixture-not-a-plugin.so: not a ralmkit plugin");
}

TEST(CliBadInput, APluginBuiltForAnotherAbi) {
  expect_input_error(ralm_cmd({"plugins", "--plugin-path", kFixtures + "/fixture-other-abi"}),
                     "libralm-fixture-other-abi.so: plugin built for SDK ABI version " +
                         std::to_string(RALM_SDK_ABI_VERSION + 1) + ", but this ralm has ABI version " +
                         std::to_string(RALM_SDK_ABI_VERSION) +
                         "; rebuild the plugin against ralmkit SDK 0.1.0");
}

TEST(CliBadInput, APluginWithAnotherBuildFingerprint) {
  expect_input_error(ralm_cmd({"plugins", "--plugin-path", kFixtures + "/fixture-other-fingerprint"}),
                     "rebuild the plugin against ralmkit SDK 0.1.0 with the same C++ standard library");
}

TEST(CliBadInput, APluginWhoseRegistrationThrows) {
  expect_input_error(ralm_cmd({"plugins", "--plugin-path", kFixtures + "/fixture-throws"}),
                     "plugin 'fixture-throws' failed while registering its components");
}

TEST(CliBadInput, TwoPluginsRegisteringTheSameName) {
  expect_input_error(ralm_cmd({"plugins", "--plugin-path", kFixtures + "/fixture-duplicate"}),
                     "registers scheduler 'fixed', which plugin 'fixture-duplicate'");
}

// `ralm model DIR` builds the model component that claims DIR; the core
// names no model plugin of its own.
TEST(Cli, ModelCommandsPickTheModelPluginThatClaimsTheCheckpoint) {
  TempDir dir;
  dir.write("mine/fixture-model.json", "{}");
  dir.write("other/config.json", "{\"model_type\": \"gpt2\"}");
  const std::string fixture = kFixtures + "/fixture-claiming-model";
  expect_input_error(ralm_cmd({"model", "info", (dir.path() / "mine").string(), "--plugin-path", fixture}),
                     "fixture-model was asked to read " + (dir.path() / "mine").string());
  // The shipped model plugin claims the Hugging Face fixture; the other does not.
  const auto hf = ralm_cmd(
      {"model", "info", RALM_SOURCE_DIR "/tests/fixtures/hf-llama-mha-tied-bf16", "--plugin-path", fixture});
  EXPECT_EQ(hf.exit_code, 0) << hf.err;
  expect_input_error(ralm_cmd({"model", "info", (dir.path() / "other").string(), "--plugin-path", fixture}),
                     "no model plugin reads this checkpoint");
  expect_input_error(ralm_cmd({"model", "info", "--set", "init=random", "--plugin-path", fixture}),
                     "which model plugin? give --plugin NAME");
  // --plugin overrides the claim.
  expect_input_error(ralm_cmd({"model", "info", (dir.path() / "other").string(), "--plugin", "fixture-model",
                               "--plugin-path", fixture}),
                     "fixture-model was asked to read");
}

}  // namespace
