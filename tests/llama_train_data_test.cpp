// The trainer's data: FlashBack's retrieval-augmented samples, laid out as
// append (with and without marks) and prepend, with the window's own
// document never retrieved and the loss on the target tokens only.
#include <gtest/gtest.h>

#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/passage_store.hpp"
#include "ralm/retriever.hpp"
#include "retrieval_windows.hpp"
#include "run_command.hpp"
#include "token_windows.hpp"

namespace {

using namespace ralm;
using namespace ralm::llama_train;
namespace fs = std::filesystem;

// Ranks passage 0 (the window's own document) first, then passage 1.
class FixedRetriever final : public Retriever {
 public:
  explicit FixedRetriever(const PassageStore& store) : store_(store) {}
  std::vector<std::vector<Hit>> search(std::span<const std::string> queries, std::int64_t) override {
    queries_.assign(queries.begin(), queries.end());
    return {{{0, 2.0f}, {1, 1.0f}}};
  }
  std::vector<float> score(std::string_view, std::span<const PassageId> ids) override {
    return std::vector<float>(ids.size(), 0.0f);
  }
  Passage passage(PassageId id) const override {
    return {id, std::string(store_.title(id)), std::string(store_.text(id))};
  }
  std::int64_t size() const override { return store_.size(); }
  std::vector<std::string> queries_;

 private:
  const PassageStore& store_;
};

class RetrievalData : public ::testing::Test {
 protected:
  void SetUp() override {
    PassageStoreWriter w(dir.path() / "corpus", false);
    w.add("A", std::string(300, 'a'), 0);  // one long document: every window is in it
    w.add("B", "bbbb", 1);
    CorpusManifest m;
    m.passages = 2;
    m.documents = 2;
    w.commit(m);
    store = PassageStore::open(dir.path() / "corpus");
  }
  ralm::test::TempDir dir;
  std::shared_ptr<const PassageStore> store;
  std::unique_ptr<Tokenizer> bytes = llama::make_byte_tokenizer(300);
};

TEST_F(RetrievalData, AppendWithMarksPutsThePassageBetweenContextAndTarget) {
  TokenWindows windows(*store, *bytes, 20 + 4, 0, 1);
  FixedRetriever retriever(*store);
  RetrievalLayout layout;
  layout.context_tokens = 20;
  layout.target_tokens = 4;
  layout.query_tokens = 8;
  layout.passage_tokens = 3;
  layout.marks = {298, 299};
  RetrievalWindows data(windows, retriever, *store, *bytes, layout);
  const TokenBatch b = data.train_batch(0, 1);
  // context (20) + <MARK_L> + "B\nb" truncated to 3 + <MARK_R> + target (4) = 29 tokens, 28 positions.
  ASSERT_EQ(b.length, 28);
  const TokenId a = 3 + 'a';
  std::vector<TokenId> expected(20, a);
  expected.insert(expected.end(), {298, 3 + 'B', 3 + '\n', 3 + 'b', 299, a, a, a});
  EXPECT_EQ(b.inputs, expected);
  // The query is the context's last 8 tokens; passage 0 is the window's own document, so B comes.
  EXPECT_EQ(retriever.queries_, std::vector<std::string>{"aaaaaaaa"});
  for (int i = 0; i < 28; ++i) {
    if (i < 24) {
      EXPECT_EQ(b.targets[static_cast<std::size_t>(i)], TokenBatch::kIgnore) << i;
    } else {
      EXPECT_EQ(b.targets[static_cast<std::size_t>(i)], a) << i;  // the 4 target tokens
    }
  }
}

TEST_F(RetrievalData, PrependPutsThePassageFirst) {
  TokenWindows windows(*store, *bytes, 20 + 4, 0, 1);
  FixedRetriever retriever(*store);
  RetrievalLayout layout;
  layout.layout = "prepend";
  layout.context_tokens = 20;
  layout.target_tokens = 4;
  layout.passage_tokens = 2;
  RetrievalWindows data(windows, retriever, *store, *bytes, layout);
  const TokenBatch b = data.train_batch(0, 2);
  ASSERT_EQ(b.sequences, 2);
  ASSERT_EQ(b.length, 2 + 24 - 1);
  EXPECT_EQ(b.inputs[0], 3 + 'B');
  EXPECT_EQ(b.inputs[1], 3 + '\n');
  EXPECT_EQ(b.inputs[2], 3 + 'a');
  EXPECT_EQ(b.target_count(), 2 * 4);
}

}  // namespace
