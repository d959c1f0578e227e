// Pipeline loading: extends, overrides, validation, and the message of every
// kind of bad pipeline.
#include <gtest/gtest.h>

#include "ralm/core/pipeline.hpp"
#include "ralm/core/plugin_manager.hpp"
#include "ralm/error.hpp"
#include "run_command.hpp"

namespace {

using ralm::core::load_pipeline;
using ralm::core::Override;
using ralm::core::parse_override;
using ralm::test::TempDir;

const ralm::core::Registry& registry() {
  static ralm::core::Registry* r = [] {
    auto* reg = new ralm::core::Registry;
    ralm::core::PluginManager manager(*reg);
    manager.load_search_path({RALM_SHIPPED_PLUGIN_DIR, RALM_FIXTURE_PLUGIN_DIR "/fixture-good"});
    return reg;
  }();
  return *r;
}

// The InputError message of loading `file`, or "" if it loaded.
std::string error_of(const std::filesystem::path& file, const std::vector<std::string>& sets = {}) {
  try {
    std::vector<Override> overrides;
    for (const auto& s : sets)
      overrides.push_back(parse_override(s));
    load_pipeline(file, overrides, registry());
  } catch (const ralm::InputError& e) {
    return e.what();
  }
  return "";
}

const char* kRetriever = R"(retriever:
  plugin: fixture-retriever
  index: idx
)";

TEST(Pipeline, FillsDefaultsAndRecordsWhereEachValueCameFrom) {
  TempDir dir;
  const auto file = dir.write("p.yaml", std::string(kRetriever) + "  weight: 1\nengine:\n  stride: 16\n");
  const auto spec = load_pipeline(file, {}, registry());
  EXPECT_EQ(spec.name, "p");
  const auto* r = spec.find("retriever");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->plugin, "fixture-retriever");
  EXPECT_EQ(r->params.get_int("k"), 10);
  EXPECT_EQ(r->params.value("k").where().file, "default");
  EXPECT_DOUBLE_EQ(r->params.get_float("weight"), 1.0);  // an integer is a fine float
  EXPECT_EQ(r->params.value("weight").where().str(), file.string() + ":4:11");
  EXPECT_EQ(r->params.get_string_list("fields"), (std::vector<std::string>{"title", "text"}));
  EXPECT_EQ(spec.engine.get_int("stride"), 16);
  EXPECT_EQ(spec.engine.get_int("query_tokens"), 32);
  EXPECT_EQ(spec.find("model"), nullptr);
}

TEST(Pipeline, ResolvesPathsAgainstTheFileThatWroteThem) {
  TempDir dir;
  dir.write("base/base.yaml", kRetriever);
  const auto child = dir.write("child.yaml", "extends: base/base.yaml\n");
  const auto spec = load_pipeline(child, {}, registry());
  EXPECT_EQ(spec.find("retriever")->params.get_path("index"),
            (dir.path() / "base" / "idx").lexically_normal());
  // --set values are relative to the current folder, so they stay as written.
  const auto set = load_pipeline(child, {parse_override("retriever.index=rel/idx")}, registry());
  EXPECT_EQ(set.find("retriever")->params.get_path("index"), "rel/idx");
}

TEST(Pipeline, ExtendsMergesMapsAndTheIncludingFileWins) {
  TempDir dir;
  dir.write("base.yaml", std::string("name: base\n") + kRetriever +
                             "  k: 3\n  mode: exact\nscheduler:\n  plugin: os3\n  max_steps_per_round: 4\n");
  const auto file = dir.write("child.yaml", "extends: base.yaml\nretriever:\n  k: 7\n");
  const auto spec = load_pipeline(file, {}, registry());
  EXPECT_EQ(spec.name, "child");  // named by its own file, not its base's
  EXPECT_EQ(spec.find("retriever")->params.get_int("k"), 7);
  EXPECT_EQ(spec.find("retriever")->params.get_string("mode"), "exact");
  EXPECT_EQ(spec.find("scheduler")->params.get_int("max_steps_per_round"), 4);
}

TEST(Pipeline, ADifferentPluginReplacesTheBaseSectionAndNullRemovesIt) {
  TempDir dir;
  dir.write("base.yaml", "scheduler:\n  plugin: os3\n  max_steps_per_round: 4\npolicy:\n  plugin: none\n");
  const auto fixed =
      dir.write("fixed.yaml", "extends: base.yaml\nscheduler:\n  plugin: fixed\n  steps_per_round: 2\n");
  const auto spec = load_pipeline(fixed, {}, registry());
  EXPECT_EQ(spec.find("scheduler")->plugin, "fixed");
  EXPECT_EQ(spec.find("scheduler")->params.get_int("steps_per_round"), 2);  // os3's keys did not leak in
  const auto off = dir.write("off.yaml", "extends: base.yaml\nscheduler: null\n");
  EXPECT_EQ(load_pipeline(off, {}, registry()).find("scheduler"), nullptr);
  // Null means "not given" in a file without a base too, and for a parameter.
  const auto plain =
      dir.write("plain.yaml", "scheduler: null\npolicy:\n  plugin: none\nengine:\n  stride: ~\n");
  const auto spec_plain = load_pipeline(plain, {}, registry());
  EXPECT_EQ(spec_plain.find("scheduler"), nullptr);
  EXPECT_EQ(spec_plain.engine.get_int("stride"), 4);
}

TEST(Pipeline, OverridesParseValuesAsYaml) {
  TempDir dir;
  const auto file = dir.write("p.yaml", kRetriever);
  const auto spec =
      load_pipeline(file,
                    {parse_override("retriever.k=5"), parse_override("retriever.sizes=[3, 4]"),
                     parse_override("retriever.verbose=true"), parse_override("engine.stride=8"),
                     parse_override("scheduler.plugin=fixed")},
                    registry());
  const auto& p = spec.find("retriever")->params;
  EXPECT_EQ(p.get_int("k"), 5);
  EXPECT_EQ(p.value("k").where().str(), "--set retriever.k=5");
  EXPECT_EQ(p.get_int_list("sizes"), (std::vector<std::int64_t>{3, 4}));
  EXPECT_TRUE(p.get_bool("verbose"));
  EXPECT_EQ(spec.engine.get_int("stride"), 8);
  EXPECT_EQ(spec.find("scheduler")->plugin, "fixed");
  // A --set that switches plugin drops the old plugin's keys.
  const auto switched = load_pipeline(
      file,
      {parse_override("scheduler.plugin=os3"), parse_override("scheduler.max_steps_per_round=3"),
       parse_override("scheduler.plugin=fixed")},
      registry());
  EXPECT_EQ(switched.find("scheduler")->params.get_int("steps_per_round"), 4);
}

TEST(PipelineFormerNames, AreReadAsTheCurrentNames) {
  TempDir dir;
  const auto file = dir.write("p.yaml",
                              "retriever:\n  plugin: faiss\n  corpus: c\n"
                              "scheduler:\n  plugin: os3\n  max_stride: 6\n");
  const auto spec = load_pipeline(file, {}, registry());
  EXPECT_EQ(spec.find("retriever")->plugin, "dense");
  const auto& scheduler = spec.find("scheduler")->params;
  EXPECT_EQ(scheduler.get_int("max_steps_per_round"), 6);
  EXPECT_EQ(scheduler.value("max_steps_per_round").where().str(), file.string() + ":6:15");
  EXPECT_FALSE(scheduler.has("max_stride"));
  // A tree validated without load_pipeline's renaming reads them too.
  const auto tree = ralm::core::load_pipeline_tree(file);
  EXPECT_EQ(ralm::core::validate_pipeline(tree, file.string(), registry())
                .find("scheduler")
                ->params.get_int("max_steps_per_round"),
            6);
}

TEST(PipelineFormerNames, TheIncludingFileWinsWhicheverNameEachWrites) {
  TempDir dir;
  dir.write("current.yaml", "scheduler:\n  plugin: fixed\n  steps_per_round: 4\n");
  dir.write("former.yaml", "scheduler:\n  plugin: fixed\n  stride: 4\n");
  const auto over_current = dir.write("a.yaml", "extends: current.yaml\nscheduler:\n  stride: 2\n");
  const auto over_former = dir.write("b.yaml", "extends: former.yaml\nscheduler:\n  steps_per_round: 8\n");
  EXPECT_EQ(load_pipeline(over_current, {}, registry()).find("scheduler")->params.get_int("steps_per_round"),
            2);
  EXPECT_EQ(load_pipeline(over_former, {}, registry()).find("scheduler")->params.get_int("steps_per_round"),
            8);
  const auto set_former =
      load_pipeline(dir.path() / "current.yaml", {parse_override("scheduler.stride=6")}, registry());
  EXPECT_EQ(set_former.find("scheduler")->params.get_int("steps_per_round"), 6);
  const auto set_current =
      load_pipeline(dir.path() / "former.yaml", {parse_override("scheduler.steps_per_round=7")}, registry());
  EXPECT_EQ(set_current.find("scheduler")->params.get_int("steps_per_round"), 7);
  // A former component name refines the base's section instead of replacing it.
  dir.write("dense.yaml", "retriever:\n  plugin: dense\n  corpus: c\n  dim: 8\n");
  const auto faiss = dir.write("faiss.yaml", "extends: dense.yaml\nretriever:\n  plugin: faiss\n  dim: 16\n");
  const auto spec = load_pipeline(faiss, {}, registry());
  EXPECT_EQ(spec.find("retriever")->plugin, "dense");
  EXPECT_EQ(spec.find("retriever")->params.get_int("dim"), 16);
  EXPECT_EQ(spec.find("retriever")->params.get_path("corpus"), (dir.path() / "c").lexically_normal());
}

TEST(PipelineFormerNames, BothNamesInOneSectionIsAnError) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "scheduler:\n  plugin: fixed\n  steps_per_round: 3\n  stride: 2\n");
  EXPECT_EQ(error_of(file),
            file.string() +
                ":4:11: scheduler: both 'stride' and 'steps_per_round' are given, and 'stride' "
                "is the former name of 'steps_per_round'; keep only steps_per_round");
}

TEST(PipelineErrors, MalformedYamlNamesLineAndColumn) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "retriever:\n  plugin: [unclosed\n");
  const std::string e = error_of(file);
  EXPECT_NE(e.find(file.string() + ":"), std::string::npos) << e;
  EXPECT_NE(e.find("malformed YAML"), std::string::npos) << e;
}

TEST(PipelineErrors, UnknownKeySuggestsTheNearestAndListsTheKnown) {
  TempDir dir;
  const auto file = dir.write("p.yaml", std::string(kRetriever) + "  wieght: 0.1\n");
  EXPECT_EQ(error_of(file),
            file.string() +
                ":4:11: retriever: unknown key 'wieght' for retriever plugin 'fixture-retriever' "
                "(did you mean 'weight'?); its keys are: index, k, weight, mode, verbose, fields, "
                "sizes, scales (`ralm plugins show` documents them)");
  const auto top = dir.write("top.yaml", "retreiver:\n  plugin: x\n");
  EXPECT_NE(error_of(top).find(":1:1: unknown top-level key 'retreiver' (did you mean 'retriever'?)"),
            std::string::npos)
      << error_of(top);
}

TEST(PipelineErrors, WrongTypesNameWhatWasExpected) {
  TempDir dir;
  const auto k = dir.write("k.yaml", std::string(kRetriever) + "  k: five\n");
  EXPECT_EQ(error_of(k), k.string() + ":4:6: retriever.k: expected an integer, found the string 'five'");
  const auto k_float = dir.write("kf.yaml", std::string(kRetriever) + "  k: 2.5\n");
  EXPECT_NE(error_of(k_float).find("expected an integer, found the number '2.5'"), std::string::npos);
  const auto b = dir.write("b.yaml", std::string(kRetriever) + "  verbose: 1\n");
  EXPECT_NE(error_of(b).find("retriever.verbose: expected true or false"), std::string::npos);
  const auto list = dir.write("l.yaml", std::string(kRetriever) + "  sizes: 3\n");
  EXPECT_NE(error_of(list).find("retriever.sizes: expected a list (int list)"), std::string::npos);
  const auto item = dir.write("i.yaml", std::string(kRetriever) + "  sizes: [1, x]\n");
  EXPECT_NE(error_of(item).find(":4:14: retriever.sizes: expected an integer, found the string 'x'"),
            std::string::npos)
      << error_of(item);
  const auto section = dir.write("s.yaml", "engine: 4\n");
  EXPECT_NE(error_of(section).find("engine: expected a map of parameters"), std::string::npos);
}

TEST(PipelineErrors, LimitsAndChoices) {
  TempDir dir;
  const auto range = dir.write("r.yaml", std::string(kRetriever) + "  weight: 1.5\n");
  EXPECT_NE(error_of(range).find("retriever.weight: 1.5 is out of range; between 0 and 1"),
            std::string::npos);
  const auto choice = dir.write("c.yaml", std::string(kRetriever) + "  mode: exakt\n");
  EXPECT_NE(error_of(choice).find("'exakt' is not one of fast, exact (did you mean 'exact'?)"),
            std::string::npos)
      << error_of(choice);
  const auto fine = dir.write("f.yaml", kRetriever);
  EXPECT_NE(
      error_of(fine, {"engine.stride=0"}).find("--set engine.stride=0: engine.stride: 0 is out of range"),
      std::string::npos);
}

TEST(PipelineErrors, MissingRequiredKeyNamesTheSectionAndTheFix) {
  TempDir dir;
  const auto file = dir.write("p.yaml", "retriever:\n  plugin: fixture-retriever\n");
  EXPECT_EQ(error_of(file), file.string() +
                                ":1:1: retriever: missing required key 'index' (path: the index folder) for "
                                "retriever plugin 'fixture-retriever'; add `index: ...`");
}

TEST(PipelineErrors, MissingPluginKeyAndUnknownPluginListTheAvailable) {
  TempDir dir;
  const auto none = dir.write("n.yaml", "scheduler:\n  steps_per_round: 2\n");
  EXPECT_NE(error_of(none).find("scheduler: missing `plugin:`; the scheduler plugins are: fixed, os3"),
            std::string::npos);
  const auto unknown = dir.write("u.yaml", "scheduler:\n  plugin: os4\n");
  EXPECT_EQ(error_of(unknown),
            unknown.string() +
                ":2:11: scheduler.plugin: unknown scheduler plugin 'os4' (did you mean 'os3'?); "
                "available: fixed, os3");
}

TEST(PipelineErrors, MissingFilesAndExtendsCycles) {
  TempDir dir;
  EXPECT_NE(error_of(dir.path() / "absent.yaml").find("absent.yaml: no such file"), std::string::npos);
  const auto broken = dir.write("broken.yaml", "extends: nowhere.yaml\n");
  EXPECT_NE(error_of(broken).find("broken.yaml:1:10: extends: no such file"), std::string::npos)
      << error_of(broken);
  dir.write("a.yaml", "extends: b.yaml\n");
  dir.write("b.yaml", "extends: c.yaml\n");
  dir.write("c.yaml", "extends: a.yaml\n");
  const std::string e = error_of(dir.path() / "a.yaml");
  EXPECT_NE(e.find("c.yaml:1:10: extends cycle: a.yaml -> b.yaml -> c.yaml -> a.yaml"), std::string::npos)
      << e;
  const auto self = dir.write("self.yaml", "extends: self.yaml\n");
  EXPECT_NE(error_of(self).find("extends cycle: self.yaml -> self.yaml"), std::string::npos);
}

TEST(PipelineErrors, ADeviceOrAHugeFileIsRefusedNotReadForever) {
  TempDir dir;
  const auto device = dir.write("device.yaml", "extends: /dev/zero\n");
  EXPECT_EQ(error_of(device), "/dev/zero: not a regular file; a pipeline is a YAML file, name one");
  const auto folder = dir.write("folder.yaml", "extends: .\n");
  EXPECT_NE(error_of(folder).find(": not a regular file;"), std::string::npos) << error_of(folder);
  const auto huge = dir.write("huge.yaml", "# " + std::string((16u << 20) + 1, 'x') + "\n");
  EXPECT_NE(error_of(huge).find("huge.yaml: 16777220 bytes, more than a pipeline's limit of 16777216"),
            std::string::npos)
      << error_of(huge);
}

TEST(PipelineErrors, DuplicateKeysAreRejected) {
  TempDir dir;
  const auto file = dir.write("p.yaml", std::string(kRetriever) + "  k: 1\n  k: 2\n");
  EXPECT_NE(error_of(file).find(":5:3: duplicate key 'k'"), std::string::npos) << error_of(file);
}

TEST(PipelineErrors, ValuesInsideASetAreLocatedAtTheOption) {
  TempDir dir;
  const auto file = dir.write("p.yaml", kRetriever);
  EXPECT_NE(
      error_of(file, {"retriever={plugin: fixture-retriever, index: i, sizes: [1, x]}"})
          .find("--set retriever={plugin: fixture-retriever, index: i, sizes: [1, x]}: retriever.sizes: "
                "expected an integer"),
      std::string::npos)
      << error_of(file, {"retriever={plugin: fixture-retriever, index: i, sizes: [1, x]}"});
}

TEST(PipelineErrors, MalformedOverrides) {
  EXPECT_THROW(parse_override("retriever.k"), ralm::InputError);
  EXPECT_THROW(parse_override("=5"), ralm::InputError);
  EXPECT_THROW(parse_override("retriever..k=5"), ralm::InputError);
  try {
    parse_override("k");
  } catch (const ralm::InputError& e) {
    EXPECT_STREQ(e.what(), "--set k: expected SECTION.KEY=VALUE, e.g. --set retriever.k=5");
  }
  TempDir dir;
  const auto file = dir.write("p.yaml", kRetriever);
  EXPECT_NE(error_of(file, {"retriever.k=\"5\""}).find("expected an integer, found the string '5'"),
            std::string::npos);
}

}  // namespace
