// LoRA in the llama plugin: PEFT adapters applied unmerged against a
// double-precision reference, merged against unmerged, several loaded with
// one active, adapters that carry added tokens' rows, the PEFT files written
// and read back with PEFT's exact key names, and bad adapter folders.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "llama_model.hpp"
#include "llama_reference.hpp"
#include "lora_adapter.hpp"
#include "ralm/error.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"
#include "ralm/safetensors.hpp"
#include "run_command.hpp"

namespace {

using namespace ralm::llama;
using ralm::safetensors::DType;
using ralm::safetensors::TensorToWrite;
using ralm::test::TempDir;
namespace fs = std::filesystem;

LlamaConfig shape(bool tied = false) {
  return ralm::test::small_gqa_config(61, tied);
}

std::unique_ptr<LlamaModel> model(const LlamaConfig& c, WeightType dtype = WeightType::f32) {
  return std::make_unique<LlamaModel>(c, random_llama_weights(c, 9, 0.1),
                                      make_ids_only_tokenizer(c.vocab_size, 1, 2), 2, 0, dtype);
}

std::vector<float> normal(std::size_t n, std::mt19937& rng, double std = 0.1) {
  std::normal_distribution<float> d(0.0f, static_cast<float>(std));
  std::vector<float> v(n);
  for (auto& x : v)
    x = d(rng);
  return v;
}

// Every target on every layer (or the listed ones), rank r.
LoraAdapter random_adapter(const LlamaConfig& c, std::uint32_t seed, std::int32_t r = 3,
                           std::vector<LoraTarget> targets = {std::begin(kLoraTargets),
                                                              std::end(kLoraTargets)}) {
  std::mt19937 rng(seed);
  LoraAdapter a;
  a.r = r;
  a.lora_alpha = 2.0 * r;  // scale 2
  a.target_modules = targets;
  for (std::int32_t l = 0; l < c.num_layers; ++l) {
    for (LoraTarget t : targets) {
      const auto [out, in] = lora_target_shape(c, t);
      a.factors.push_back({l, t, normal(static_cast<std::size_t>(r * in), rng),
                           normal(static_cast<std::size_t>(out * r), rng)});
    }
  }
  return a;
}

// The weights with the adapter merged in double precision, as the reference sees them.
LlamaWeights merged_in_double(LlamaWeights w, const LlamaConfig& c, const LoraAdapter& a) {
  for (const auto& f : a.factors) {
    auto& L = w.layers[static_cast<std::size_t>(f.layer)];
    std::vector<float>* m = nullptr;
    switch (f.target) {
      case LoraTarget::q_proj:
        m = &L.wq;
        break;
      case LoraTarget::k_proj:
        m = &L.wk;
        break;
      case LoraTarget::v_proj:
        m = &L.wv;
        break;
      case LoraTarget::o_proj:
        m = &L.wo;
        break;
      case LoraTarget::gate_proj:
        m = &L.w_gate;
        break;
      case LoraTarget::up_proj:
        m = &L.w_up;
        break;
      case LoraTarget::down_proj:
        m = &L.w_down;
        break;
    }
    const auto [out, in] = lora_target_shape(c, f.target);
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t i = 0; i < in; ++i) {
        double d = 0;
        for (std::int64_t k = 0; k < a.r; ++k)
          d += static_cast<double>(f.b[static_cast<std::size_t>(o * a.r + k)]) *
               f.a[static_cast<std::size_t>(k * in + i)];
        auto& e = (*m)[static_cast<std::size_t>(o * in + i)];
        e = static_cast<float>(e + a.scale() * d);
      }
  }
  auto replace = [&](std::vector<float>& m, const TokenRows& t) {
    for (std::size_t i = 0; i < t.ids.size(); ++i)
      std::copy_n(t.rows.begin() + static_cast<std::ptrdiff_t>(i) * c.hidden_size, c.hidden_size,
                  m.begin() + static_cast<std::ptrdiff_t>(t.ids[i]) * c.hidden_size);
  };
  if (c.tie_word_embeddings && !a.embed_tokens.empty() && a.lm_head.empty()) {
    replace(w.embed, a.embed_tokens);
  } else {
    replace(w.embed, a.embed_tokens);
    if (!a.lm_head.empty()) {
      if (w.lm_head.empty()) w.lm_head = w.embed;
      replace(w.lm_head, a.lm_head);
    }
  }
  return w;
}

const std::vector<ralm::TokenId> kIds = {1, 5, 60, 33, 17, 2, 40, 9};

std::vector<float> logits(LlamaModel& m, const std::vector<ralm::TokenId>& ids = kIds) {
  auto seq = m.new_sequence();
  return m.eval(*seq, ids, {}).logits;
}

TEST(LlamaLora, UnmergedMatchesADoublePrecisionReference) {
  for (const bool tied : {false, true}) {
    const LlamaConfig c = shape(tied);
    auto m = model(c);
    const auto a = random_adapter(c, 1);
    const auto want_weights = merged_in_double(m->weights(), c, a);
    m->load_adapter("a", a);
    m->set_active_adapter("a");
    const auto got = logits(*m);
    const auto want = ralm::test::reference_logits(c, want_weights, kIds);
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 3e-5) << i;
  }
}

TEST(LlamaLora, MergedEqualsUnmergedAndDeactivatingRestoresTheBaseBitForBit) {
  const LlamaConfig c = shape();
  auto m = model(c);
  const auto base = logits(*m);
  m->load_adapter("a", random_adapter(c, 2));
  m->set_active_adapter("a");
  const auto unmerged = logits(*m);
  m->set_merge_adapters(true);
  const auto merged = logits(*m);
  // Stated tolerance: both are float32 evaluations of the same function,
  // differing in where B·A is rounded; logits here are O(1).
  for (std::size_t i = 0; i < merged.size(); ++i)
    EXPECT_NEAR(merged[i], unmerged[i], 1e-4) << i;
  EXPECT_NE(merged, base);
  EXPECT_THROW(m->weights(), ralm::Error);
  m->set_active_adapter("");
  EXPECT_EQ(logits(*m), base);
  m->set_merge_adapters(false);
  EXPECT_EQ(logits(*m), base);
}

TEST(LlamaLora, MergedInBf16StaysCloseToUnmerged) {
  const LlamaConfig c = shape();
  auto m = model(c, WeightType::bf16);
  m->load_adapter("a",
                  random_adapter(c, 3, 2, {LoraTarget::q_proj, LoraTarget::v_proj, LoraTarget::down_proj}));
  m->set_active_adapter("a");
  const auto unmerged = logits(*m);
  m->set_merge_adapters(true);
  const auto merged = logits(*m);
  // The merged weights are rounded to bf16 (relative 2^-9 per weight).
  for (std::size_t i = 0; i < merged.size(); ++i)
    EXPECT_NEAR(merged[i], unmerged[i], 0.05) << i;
}

TEST(LlamaLora, SeveralLoadedOneActiveAndBatchingChangesNoBits) {
  const LlamaConfig c = shape();
  auto m = model(c);
  m->load_adapter("a", random_adapter(c, 4));
  m->load_adapter("b", random_adapter(c, 5, 2, {LoraTarget::k_proj, LoraTarget::up_proj}));
  EXPECT_EQ(m->adapter_names(), (std::vector<std::string>{"a", "b"}));
  m->set_active_adapter("a");
  const auto a1 = logits(*m);
  m->set_active_adapter("b");
  const auto b1 = logits(*m);
  EXPECT_NE(a1, b1);
  m->set_active_adapter("a");
  EXPECT_EQ(logits(*m), a1);
  EXPECT_EQ(m->active_adapter(), "a");
  EXPECT_THROW(m->set_active_adapter("c"), ralm::InputError);

  // One-shot, token by token and batched agree bit for bit under the adapter.
  auto x = m->new_sequence(), y = m->new_sequence();
  const auto all = m->eval(*x, kIds, {.all_logits = true});
  for (std::size_t i = 0; i < kIds.size(); ++i) {
    const auto one = m->eval(*y, std::span(kIds).subspan(i, 1), {});
    for (std::size_t v = 0; v < 61; ++v)
      ASSERT_EQ(one.logits[v], all.logits[i * 61 + v]);
  }
  auto s1 = m->new_sequence(), s2 = m->new_sequence();
  const std::vector<ralm::TokenId> t1 = {3, 4}, t2 = {7, 8, 9, 10};
  std::vector<ralm::Sequence*> seqs = {s1.get(), s2.get()};
  std::vector<std::span<const ralm::TokenId>> toks = {t1, t2};
  const auto batch = m->eval_batch(seqs, toks, {});
  EXPECT_EQ(batch[1].logits, logits(*m, t2));
}

TEST(LlamaLora, PeftFilesRoundTripWithPeftsKeyNames) {
  TempDir dir;
  const LlamaConfig c = shape();
  const auto a = random_adapter(c, 6, 4, {LoraTarget::q_proj, LoraTarget::o_proj, LoraTarget::gate_proj});
  write_peft_adapter(dir.path() / "ad", a, c);
  const ralm::safetensors::File st(dir.path() / "ad" / "adapter_model.safetensors");
  const auto& t = st.tensors();
  EXPECT_EQ(t.size(), 2u * 3u * 2u);
  EXPECT_EQ(t.at("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").shape,
            (std::vector<std::int64_t>{4, 40}));
  EXPECT_EQ(t.at("base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight").shape,
            (std::vector<std::int64_t>{40, 4}));
  EXPECT_EQ(t.at("base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight").shape,
            (std::vector<std::int64_t>{53, 4}));
  std::ifstream in(dir.path() / "ad" / "adapter_config.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["r"], 4);
  EXPECT_EQ(j["lora_alpha"], 8.0);
  EXPECT_EQ(j["target_modules"], (nlohmann::json{"q_proj", "o_proj", "gate_proj"}));

  const auto back = read_peft_adapter(dir.path() / "ad", c);
  ASSERT_EQ(back.factors.size(), a.factors.size());
  EXPECT_EQ(back.scale(), 2.0);
  auto m1 = model(c), m2 = model(c);
  m1->load_adapter("mem", a);
  m1->set_active_adapter("mem");
  m2->load_adapter("file", dir.path() / "ad");
  m2->set_active_adapter("file");
  EXPECT_EQ(logits(*m1), logits(*m2));
  EXPECT_THROW(write_peft_adapter(dir.path() / "ad", a, c), ralm::InputError);  // exists, no overwrite
  write_peft_adapter(dir.path() / "ad", a, c, true);
}

TEST(LlamaLora, AnAdapterCarriesAddedTokensRows) {
  TempDir dir;
  for (const bool tied : {false, true}) {
    LlamaConfig c = shape(tied);
    auto m = model(c);
    const auto mark = m->add_special_token("<MARK_L>");
    c = m->config();  // vocab 62
    std::mt19937 rng(7);
    // Trainable tokens (the new id and one old one) on the embedding, and on lm_head when untied.
    auto a = random_adapter(c, 8, 2, {LoraTarget::v_proj});
    a.embed_tokens = {{mark, 5}, normal(2 * 40, rng, 0.3)};
    if (!tied) a.lm_head = {{mark}, normal(40, rng, 0.3)};
    const std::vector<ralm::TokenId> ids = {1, mark, 5, 7, mark};
    const auto want = ralm::test::reference_logits(c, merged_in_double(m->weights(), c, a), ids);
    const fs::path folder = dir.path() / (tied ? "tied" : "untied");
    write_peft_adapter(folder, a, c);
    m->load_adapter("marks", folder);
    m->set_active_adapter("marks");
    const auto got = logits(*m, ids);
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 3e-5) << tied << " " << i;
    EXPECT_THROW(m->add_special_token("<MARK_R>"),
                 ralm::InputError);  // the adapter's rows fix the vocabulary

    // modules_to_save: whole embedding and lm_head matrices.
    auto whole = random_adapter(c, 9, 2, {LoraTarget::q_proj});
    whole.embed_tokens.rows = normal(62 * 40, rng);
    whole.lm_head.rows = normal(62 * 40, rng);
    for (int i = 0; i < 62; ++i) {
      whole.embed_tokens.ids.push_back(i);
      whole.lm_head.ids.push_back(i);
    }
    whole.embed_tokens_whole = whole.lm_head_whole = true;
    write_peft_adapter(folder.string() + "-whole", whole, c);
    std::ifstream in(folder.string() + "-whole/adapter_config.json");
    EXPECT_EQ(nlohmann::json::parse(in)["modules_to_save"], (nlohmann::json{"embed_tokens", "lm_head"}));
    m->load_adapter("whole", folder.string() + "-whole");
    m->set_active_adapter("whole");
    const auto want_whole = ralm::test::reference_logits(c, merged_in_double(m->weights(), c, whole), ids);
    const auto got_whole = logits(*m, ids);
    for (std::size_t i = 0; i < want_whole.size(); ++i)
      EXPECT_NEAR(got_whole[i], want_whole[i], 3e-5) << tied << " " << i;
  }
}

std::string adapter_error(const fs::path& dir, const LlamaConfig& c) {
  try {
    read_peft_adapter(dir, c);
  } catch (const ralm::InputError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    return what;
  }
  return "no error";
}

TEST(LlamaLora, BadAdapterFoldersAreOneLineErrors) {
  TempDir dir;
  const LlamaConfig c = shape();
  const auto a = random_adapter(c, 10, 2, {LoraTarget::q_proj, LoraTarget::up_proj});
  const fs::path good = dir.path() / "good";
  write_peft_adapter(good, a, c);
  auto variant = [&](const std::string& name) {
    const fs::path d = dir.path() / name;
    fs::copy(good, d);
    return d;
  };
  auto edit_config = [&](const fs::path& d, const std::function<void(nlohmann::json&)>& f) {
    std::ifstream in(d / "adapter_config.json");
    auto j = nlohmann::json::parse(in);
    in.close();
    f(j);
    std::ofstream(d / "adapter_config.json") << j.dump();
  };

  const fs::path no_config = variant("no_config");
  fs::remove(no_config / "adapter_config.json");
  EXPECT_NE(adapter_error(no_config, c).find("adapter_config.json: missing"), std::string::npos);

  const fs::path no_weights = variant("no_weights");
  fs::remove(no_weights / "adapter_model.safetensors");
  EXPECT_NE(adapter_error(no_weights, c).find("adapter_model.safetensors: missing"), std::string::npos);

  const fs::path rank = variant("rank");
  edit_config(rank, [](auto& j) { j["r"] = 3; });
  const std::string rank_error = adapter_error(rank, c);
  EXPECT_NE(rank_error.find("has shape [2, 40], expected [3, 40] (r = 3"), std::string::npos) << rank_error;

  const fs::path unknown = variant("unknown_module");
  edit_config(unknown, [](auto& j) { j["target_modules"] = {"q_proj", "up_proj", "qkv_proj"}; });
  EXPECT_NE(adapter_error(unknown, c).find("target_modules: unknown module 'qkv_proj'"), std::string::npos);

  const fs::path unlisted = variant("unlisted");
  edit_config(unlisted, [](auto& j) { j["target_modules"] = {"q_proj"}; });
  EXPECT_NE(
      adapter_error(unlisted, c).find("up_proj, which adapter_config.json's target_modules does not list"),
      std::string::npos);

  const fs::path dora = variant("dora");
  edit_config(dora, [](auto& j) { j["use_dora"] = true; });
  EXPECT_NE(adapter_error(dora, c).find("use_dora true is not supported"), std::string::npos);

  // PEFT writes null for what it does not know: such an adapter loads.
  const fs::path nulls = variant("nulls");
  edit_config(nulls, [](auto& j) {
    j["base_model_name_or_path"] = nullptr;
    j["task_type"] = nullptr;
    j["use_rslora"] = nullptr;
    j["bias"] = nullptr;
    j["modules_to_save"] = nullptr;
  });
  EXPECT_EQ(adapter_error(nulls, c), "no error");
  const fs::path wrong_type = variant("wrong_type");
  edit_config(wrong_type, [](auto& j) { j["use_rslora"] = "yes"; });
  EXPECT_NE(adapter_error(wrong_type, c).find("use_rslora must be true or false, not \"yes\""),
            std::string::npos)
      << adapter_error(wrong_type, c);

  const fs::path bad_json = variant("bad_json");
  std::ofstream(bad_json / "adapter_config.json") << "{\"r\": ";
  EXPECT_NE(adapter_error(bad_json, c).find("not valid JSON"), std::string::npos);

  // An A without its B, and a tensor PEFT would not write.
  LoraAdapter half = a;
  write_peft_adapter(dir.path() / "lonely", half, c);
  {
    std::vector<TensorToWrite> t = {
        {peft_lora_key(0, LoraTarget::q_proj, false), DType::F32, {2, 40}, a.factors[0].a}};
    ralm::safetensors::write_file(dir.path() / "lonely" / "adapter_model.safetensors", t);
  }
  EXPECT_NE(adapter_error(dir.path() / "lonely", c).find("has no lora_B partner"), std::string::npos);
  {
    std::vector<TensorToWrite> t = {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
                                     DType::F32,
                                     {2, 40},
                                     a.factors[0].a}};
    ralm::safetensors::write_file(dir.path() / "lonely" / "adapter_model.safetensors", t);
  }
  EXPECT_NE(adapter_error(dir.path() / "lonely", c).find("unknown tensor base_model.model.model.layers.0"),
            std::string::npos);

  // Trainable-token rows the config does not list.
  const fs::path rows = dir.path() / "rows";
  {
    LoraAdapter with_rows = a;
    std::mt19937 rng(1);
    with_rows.embed_tokens = {{5}, normal(40, rng)};
    write_peft_adapter(rows, with_rows, c);
  }
  edit_config(rows, [](auto& j) { j["trainable_token_indices"] = nullptr; });
  EXPECT_NE(adapter_error(rows, c).find("trainable_token_indices has no embed_tokens"), std::string::npos);

  // A shape from another model (the wrong hidden size).
  LlamaConfig wider = c;
  wider.hidden_size = 48;
  wider.head_dim = 12;
  EXPECT_NE(adapter_error(good, wider).find("expected [2, 48]"), std::string::npos);
}

// Through the plugin: a pipeline adds a special token and loads an adapter
// that carries its rows, unmerged and merged; a bad adapter is one line
// naming the pipeline's key.
TEST(LlamaLora, APipelineLoadsSpecialTokensAndAnAdapter) {
  TempDir dir;
  LlamaConfig c;  // what the pipeline below builds, with <MARK_L> added
  c.vocab_size = 301;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 4;
  c.head_dim = 16;
  auto a = random_adapter(c, 11, 2, {LoraTarget::q_proj, LoraTarget::down_proj});
  std::mt19937 rng(3);
  a.embed_tokens = {{300}, normal(64, rng)};
  write_peft_adapter(dir.path() / "marks-adapter", a, c);
  dir.write("prompts.jsonl", "{\"id\": \"p\", \"prompt\": \"a <MARK_L> b\"}\n");
  const auto yaml = dir.write("pipe.yaml", R"(name: lora
model:
  plugin: llama
  init: random
  seed: 4
  tokenizer: bytes
  vocab_size: 300
  hidden_size: 64
  intermediate_size: 96
  num_layers: 2
  num_heads: 4
  context_length: 64
  special_tokens: ["<MARK_L>"]
  adapter: marks-adapter
policy:
  plugin: none
engine:
  max_new_tokens: 4
task:
  kind: generate
  prompts: prompts.jsonl
)");
  for (const char* merge : {"false", "true"}) {
    const auto r = ralm::test::run_command(
        {RALM_EXE, "run", yaml.string(), "--set", std::string("model.merge_adapter=") + merge}, dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  const auto bad = ralm::test::run_command(
      {RALM_EXE, "run", yaml.string(), "--set", "model.adapter=" + (dir.path() / "nowhere").string()},
      dir.path());
  EXPECT_EQ(bad.exit_code, 2);
  ASSERT_EQ(bad.err_lines().size(), 1u) << bad.err;
  EXPECT_NE(bad.err.find("model.adapter"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("adapter_config.json: missing"), std::string::npos) << bad.err;
}

}  // namespace
