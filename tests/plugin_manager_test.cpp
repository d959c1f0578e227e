// Loading plugins: the checks before any C++ call, duplicates, shadowing,
// exported symbols, and the lifetime of objects made by a plugin.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "ralm/core/pipeline_builder.hpp"
#include "ralm/core/plugin_manager.hpp"
#include "ralm/error.hpp"
#include "ralm/version.hpp"
#include "run_command.hpp"

namespace {

namespace fs = std::filesystem;
using ralm::core::PluginManager;
using ralm::core::Registry;

const std::string kFixtures = RALM_FIXTURE_PLUGIN_DIR;

fs::path fixture(const std::string& name) {
  return kFixtures + "/" + name + "/libralm-" + name + ".so";
}

std::string load_error(const std::vector<fs::path>& path, Registry& registry) {
  try {
    PluginManager(registry).load_search_path(path);
  } catch (const ralm::InputError& e) {
    return e.what();
  }
  return "";
}

std::string load_error(const std::vector<fs::path>& path) {
  Registry registry;
  return load_error(path, registry);
}

bool mapped(const std::string& file_name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(file_name) != std::string::npos) return true;
  }
  return false;
}

TEST(PluginManager, LoadsTheShippedPlugins) {
  Registry registry;
  PluginManager(registry).load_search_path({RALM_SHIPPED_PLUGIN_DIR});
  EXPECT_EQ(registry.names("scheduler"), (std::vector<std::string>{"fixed", "os3"}));
  EXPECT_EQ(registry.names("policy"), (std::vector<std::string>{"append", "knnlm", "none", "prepend"}));
  EXPECT_EQ(registry.names("model"), (std::vector<std::string>{"llama"}));
  EXPECT_EQ(registry.names("retriever"), (std::vector<std::string>{"bm25", "dense", "xapian"}));
  EXPECT_EQ(registry.names("trainer"), (std::vector<std::string>{"llama"}));
  ASSERT_EQ(registry.plugins().size(), 7u);  // bm25, dense, llama, llama-train, policies, schedulers, xapian
  const auto* os3 = registry.find("scheduler", "os3");
  ASSERT_NE(os3, nullptr);
  EXPECT_EQ(os3->plugin->name, "schedulers");
  EXPECT_FALSE(os3->info.params.empty());
}

ralm::core::RegistryEntry entry(const std::string& name, std::vector<std::string> aliases,
                                ralm::ParamSpecs params = {}) {
  ralm::core::RegistryEntry e;
  e.info = {"scheduler", name, "a test entry", std::move(params), {}, std::move(aliases)};
  return e;
}

TEST(Registry, FormerNamesFindTheComponentAndCannotBeTakenAgain) {
  Registry registry;
  registry.add(entry("current", {"former"}));
  ASSERT_NE(registry.find("scheduler", "former"), nullptr);
  EXPECT_EQ(registry.find("scheduler", "former")->info.name, "current");
  EXPECT_EQ(registry.find("retriever", "former"), nullptr);
  EXPECT_EQ(registry.names("scheduler"), (std::vector<std::string>{"current"}));
  try {
    registry.add(entry("former", {}));
    ADD_FAILURE() << "a former name was taken again";
  } catch (const ralm::InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("registers scheduler 'former', which the core already registered as a "
                                   "former name of 'current'"),
        std::string::npos)
        << e.what();
  }
  EXPECT_THROW(registry.add(entry("other", {"current"})), ralm::InputError);
  // Two parameters answering to one key would make it ambiguous.
  EXPECT_THROW(
      registry.add(entry("params", {},
                         {ralm::param::integer("a", 1, "").alias("b"), ralm::param::integer("b", 1, "")})),
      ralm::InputError);
  EXPECT_EQ(registry.names("scheduler"), (std::vector<std::string>{"current"}));
}

TEST(PluginManager, ALibraryWithoutTheEntryIsNotAPlugin) {
  const std::string e = load_error({fixture("fixture-not-a-plugin")});
  EXPECT_NE(
      e.find("libralm-fixture-not-a-plugin.so: not a ralmkit plugin: it exports no 'ralm_plugin_entry'"),
      std::string::npos)
      << e;
}

TEST(PluginManager, AnotherAbiVersionIsRefusedBeforeRegistration) {
  Registry registry;
  const std::string e = load_error({fixture("fixture-other-abi")}, registry);
  EXPECT_NE(e.find("plugin built for SDK ABI version " + std::to_string(RALM_SDK_ABI_VERSION + 1) +
                   ", but this ralm has ABI version " + std::to_string(RALM_SDK_ABI_VERSION) +
                   "; rebuild the plugin against ralmkit SDK 0.1.0"),
            std::string::npos)
      << e;
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginManager, AnotherBuildFingerprintIsRefused) {
  const std::string e = load_error({fixture("fixture-other-fingerprint")});
  EXPECT_NE(e.find("has build fingerprint \"ralmkit-sdk 0.1.0; libc++; ptr=8\""), std::string::npos) << e;
}

TEST(PluginManager, ARegistrationThatThrowsLeavesNothingBehind) {
  Registry registry;
  const std::string e = load_error({fixture("fixture-throws")}, registry);
  EXPECT_NE(e.find("plugin 'fixture-throws' failed while registering its components: the fixture's "
                   "configuration file is missing"),
            std::string::npos)
      << e;
  EXPECT_TRUE(registry.entries().empty());
}

TEST(PluginManager, TwoPluginsRegisteringOneNameIsAnError) {
  const std::string e = load_error({kFixtures + "/fixture-duplicate", RALM_SHIPPED_PLUGIN_DIR});
  EXPECT_NE(
      e.find("plugin 'schedulers' (" RALM_SHIPPED_PLUGIN_DIR "/libralm-schedulers.so) registers scheduler "
             "'fixed', which plugin 'fixture-duplicate'"),
      std::string::npos)
      << e;
}

TEST(PluginManager, AClashLeavesNoneOfThePluginsComponentsBehind) {
  Registry registry;
  PluginManager(registry).load_search_path({RALM_SHIPPED_PLUGIN_DIR});
  const auto plugins_before = registry.plugins().size();
  // fixture-duplicate registers a fresh name, then `fixed`, which is taken.
  EXPECT_NE(load_error({kFixtures + "/fixture-duplicate"}, registry).find("already registered"),
            std::string::npos);
  EXPECT_EQ(registry.find("scheduler", "fixture-unique-scheduler"), nullptr);
  EXPECT_EQ(registry.plugins().size(), plugins_before);
}

TEST(PluginManager, EarlierFoldersShadowTheSameLibraryFileInLaterOnes) {
  ralm::test::TempDir first, second;
  fs::copy_file(fixture("fixture-good"), first.path() / "libralm-fixture-good.so");
  fs::copy_file(fixture("fixture-good"), second.path() / "libralm-fixture-good.so");
  Registry registry;
  EXPECT_EQ(load_error({first.path(), second.path()}, registry), "");
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(fs::path(registry.plugins()[0]->file).parent_path(), first.path());
  // A path entry naming the file itself is shadowed the same way.
  Registry by_file;
  EXPECT_EQ(load_error({first.path(), second.path() / "libralm-fixture-good.so"}, by_file), "");
  EXPECT_EQ(by_file.plugins().size(), 1u);
}

// A library anyone could have replaced is not loaded: its code would run as
// this user. Checked before the dynamic loader runs any of it.
TEST(PluginManager, PluginsOthersCouldWriteAreRefused) {
  const ralm::test::TempDir dir;
  const fs::path file = dir.path() / "libralm-fixture-good.so";
  fs::copy_file(fixture("fixture-good"), file);
  fs::permissions(file, fs::perms::others_write, fs::perm_options::add);
  const std::string file_error = load_error({dir.path()});
  EXPECT_NE(file_error.find(file.string() + ": refused: it is writable by every user"), std::string::npos)
      << file_error;
  EXPECT_NE(file_error.find("chmod o-w"), std::string::npos) << file_error;
  EXPECT_FALSE(mapped(file.string()));
  // The file safe, its folder open to everyone (no sticky bit): refused too.
  fs::permissions(file, fs::perms::others_write, fs::perm_options::remove);
  fs::permissions(dir.path(), fs::perms::others_write, fs::perm_options::add);
  const std::string folder_error = load_error({dir.path()});
  EXPECT_NE(folder_error.find("its folder " + dir.path().string()), std::string::npos) << folder_error;
  // With the sticky bit (as /tmp has) others cannot replace the file: loaded.
  fs::permissions(dir.path(), fs::perms::sticky_bit, fs::perm_options::add);
  Registry registry;
  EXPECT_EQ(load_error({dir.path()}, registry), "");
  EXPECT_EQ(registry.plugins().size(), 1u);
  fs::permissions(dir.path(), fs::perms::others_write | fs::perms::sticky_bit, fs::perm_options::remove);
}

TEST(PluginManager, MissingFoldersAreSkipped) {
  Registry registry;
  EXPECT_EQ(load_error({"/nonexistent/ralm/plugins"}, registry), "");
  EXPECT_TRUE(registry.entries().empty());
}

// Every shipped plugin, and a fixture built with the same helper, exports its
// entry function and nothing else.
TEST(PluginAbi, PluginsExportOnlyTheirEntrySymbol) {
  std::vector<fs::path> libraries;
  for (const auto& item : fs::directory_iterator(RALM_SHIPPED_PLUGIN_DIR))
    libraries.push_back(item.path());
  libraries.push_back(fixture("fixture-good"));
  ASSERT_GE(libraries.size(), 3u);
  for (const fs::path& lib : libraries) {
    const auto result = ralm::test::run_command({"/usr/bin/nm", "-D", "--defined-only", lib.string()});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::set<std::string> symbols;
    std::stringstream lines(result.out);
    for (std::string line; std::getline(lines, line);) {
      symbols.insert(line.substr(line.rfind(' ') + 1));
    }
    EXPECT_EQ(symbols, (std::set<std::string>{"ralm_plugin_entry"})) << lib;
  }
}

class NoContext final : public ralm::BuildContext {
 public:
  std::shared_ptr<ralm::Model> model() const override { return nullptr; }
  std::shared_ptr<ralm::Retriever> retriever() const override { return nullptr; }
  int threads() const override { return 1; }
};

ralm::Params fixture_params() {
  ralm::Value v = ralm::Value::map({}, {"test", 0, 0});
  v.set("index", ralm::Value::string("idx"));
  v.set("k", ralm::Value::integer(4));
  return ralm::Params("retriever", v);
}

TEST(PluginLifetime, AnObjectOutlivesTheRegistryThatMadeIt) {
  // Copied to a name no other test loads, so the mapping is this test's alone.
  ralm::test::TempDir dir;
  const std::string name = "libralm-fixture-good-lifetime.so";
  fs::copy_file(fixture("fixture-good"), dir.path() / name);
  std::shared_ptr<ralm::Retriever> retriever;
  {
    Registry registry;
    PluginManager(registry).load_file(dir.path() / name);
    NoContext ctx;
    retriever = registry.create<ralm::Retriever>(*registry.find("retriever", "fixture-retriever"),
                                                 fixture_params(), ctx);
  }
  // The registry, its entries and the plugin manager are gone; the object
  // still works, because it holds its library.
  ASSERT_TRUE(mapped(name));
  const std::vector<std::string> queries = {"abc", "de"};
  const auto hits = retriever->search(queries, 3);
  ASSERT_EQ(hits.size(), 2u);
  ASSERT_EQ(hits[0].size(), 3u);
  // Ties (equal scores) go to the lower id.
  EXPECT_EQ(hits[0][0].score, 2.0f);
  EXPECT_EQ(hits[0][0].id, 2);
  EXPECT_EQ(retriever->passage(1).text, "text 1");
  // Once the last object goes, so may the library.
  retriever.reset();
  EXPECT_FALSE(mapped(name));
}

TEST(PluginLifetime, FactoryInputErrorsPointAtTheValue) {
  Registry registry;
  PluginManager(registry).load_file(fixture("fixture-good"));
  ralm::Value v = ralm::Value::map({}, {"p.yaml", 1, 1});
  v.set("index", ralm::Value::string("idx"));
  v.set("k", ralm::Value::integer(13, {"p.yaml", 3, 6}));
  NoContext ctx;
  try {
    registry.create<ralm::Retriever>(*registry.find("retriever", "fixture-retriever"),
                                     ralm::Params("retriever", v), ctx);
    FAIL();
  } catch (const ralm::InputError& e) {
    EXPECT_STREQ(e.what(), "p.yaml:3:6: retriever.k: 13 is unlucky; pick another k");
  }
}

TEST(PluginLifetime, ObjectsOfTheWrongInterfaceAreRefused) {
  Registry registry;
  PluginManager(registry).load_file(fixture("fixture-good"));
  NoContext ctx;
  EXPECT_THROW(
      registry.create<ralm::Model>(*registry.find("retriever", "fixture-retriever"), fixture_params(), ctx),
      ralm::Error);
}

}  // namespace
