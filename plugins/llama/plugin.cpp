// The `llama` plugin: Hugging Face LlamaForCausalLM, Qwen2ForCausalLM and
// MistralForCausalLM checkpoints, llama.cpp's GGUF files of the llama and
// qwen2 architectures, or a random Llama of any shape.
#include "gguf_model.hpp"
#include "llama_checkpoint.hpp"
#include "llama_model.hpp"
#include "ralm/llama_format/config.hpp"
#include "ralm/llama_format/tokenizers.hpp"
#include "ralm/llama_format/weights.hpp"
#include "ralm/ralm.hpp"

namespace {

std::unique_ptr<ralm::llama::LlamaModel> build_model(const ralm::Params& p, ralm::BuildContext& ctx) {
  using namespace ralm::llama;
  const int threads = p.get_int("threads") > 0 ? static_cast<int>(p.get_int("threads")) : ctx.threads();
  const auto context = static_cast<std::int32_t>(p.get_int("context_length"));
  // auto: f32 for a checkpoint folder, each tensor's own float type for GGUF.
  const std::string dtype_name = p.get_string("dtype");
  const std::optional<WeightType> chosen = dtype_name == "bf16"  ? std::optional(WeightType::bf16)
                                           : dtype_name == "f32" ? std::optional(WeightType::f32)
                                                                 : std::nullopt;
  const WeightType dtype = chosen.value_or(WeightType::f32);
  if (p.get_string("init") == "random") {
    LlamaConfig c;
    c.vocab_size = static_cast<std::int32_t>(p.get_int("vocab_size"));
    c.hidden_size = static_cast<std::int32_t>(p.get_int("hidden_size"));
    c.intermediate_size = static_cast<std::int32_t>(p.get_int("intermediate_size"));
    c.num_layers = static_cast<std::int32_t>(p.get_int("num_layers"));
    c.num_heads = static_cast<std::int32_t>(p.get_int("num_heads"));
    c.num_kv_heads = static_cast<std::int32_t>(p.get_int("num_kv_heads"));
    if (c.num_kv_heads == 0) c.num_kv_heads = c.num_heads;
    if (c.hidden_size % c.num_heads != 0) p.fail("hidden_size", "must be a multiple of num_heads");
    c.head_dim = c.hidden_size / c.num_heads;
    if (c.num_heads % c.num_kv_heads != 0) p.fail("num_kv_heads", "must divide num_heads");
    c.max_position_embeddings = context > 0 ? context : 2048;
    c.rope_theta = p.get_float("rope_theta");
    c.tie_word_embeddings = p.get_bool("tie_embeddings");
    c.validate("model (init: random)");
    auto weights = random_llama_weights(c, static_cast<std::uint64_t>(p.get_int("seed")));
    const std::string kind = p.get_string("tokenizer");
    std::unique_ptr<ralm::Tokenizer> tokenizer;
    if (kind == "bytes") {
      if (c.vocab_size < 259) p.fail("vocab_size", "the byte tokenizer needs at least 259; raise vocab_size");
      tokenizer = make_byte_tokenizer(c.vocab_size);
    } else if (kind == "sentencepiece") {
      const auto file = p.get_path("tokenizer_model");
      if (file.filename() != "tokenizer.model" || !std::filesystem::exists(file)) {
        p.fail("tokenizer_model", "give the path of an existing SentencePiece tokenizer.model");
      }
      tokenizer = make_tokenizer(file.parent_path(), c.vocab_size, c.bos_token_id, c.eos_token_id);
    } else {
      tokenizer = make_ids_only_tokenizer(c.vocab_size, c.bos_token_id, c.eos_token_id);
    }
    auto model =
        std::make_unique<LlamaModel>(c, std::move(weights), std::move(tokenizer), threads, context, dtype);
    model->add_detail("checkpoint", "none (init: random, seed " + std::to_string(p.get_int("seed")) + ")");
    model->add_detail("tokenizer", kind);
    return model;
  }
  const auto path = p.get_path("path");
  if (path.empty())
    p.fail(
        "path",
        "no checkpoint given; set `path: DIR` (a Hugging Face folder), `path: FILE.gguf` or `init: random`");
  if (is_gguf_file(path)) return load_gguf_model(path, threads, context, chosen);
  return load_llama_model(path, threads, context, dtype);
}

std::unique_ptr<ralm::llama::LlamaModel> make_model(const ralm::Params& p, ralm::BuildContext& ctx) {
  auto model = build_model(p, ctx);
  model->set_kv_cache_type(p.get_string("kv_cache") == "bf16" ? ralm::llama::KvCacheType::bf16
                                                              : ralm::llama::KvCacheType::f32);
  for (const auto& name : p.get_string_list("special_tokens")) {
    if (name.empty()) p.fail("special_tokens", "a special token needs a non-empty name");
    model->add_special_token(name);  // a name the vocabulary has already: kept as it is
  }
  // After the special tokens: an adapter trained with them carries their rows.
  const auto adapter = p.get_path("adapter");
  model->set_merge_adapters(p.get_bool("merge_adapter"));
  if (!adapter.empty()) {
    const std::string name =
        adapter.filename().empty() ? adapter.parent_path().filename().string() : adapter.filename().string();
    try {
      model->load_adapter(name, adapter);
    } catch (const ralm::InputError& e) {
      p.fail("adapter", e.what());
    }
    model->set_active_adapter(name);
  }
  return model;
}

// What `ralm model info PATH` and friends hand this plugin without naming one.
bool reads_checkpoint(const std::filesystem::path& path) {
  return ralm::llama::is_llama_checkpoint(path) || ralm::llama::is_gguf_file(path);
}

}  // namespace

RALM_PLUGIN("llama", "0.1.0", "Llama, Qwen2 and Mistral models (Hugging Face checkpoints, GGUF files)") {
  namespace param = ralm::param;
  registrar.add<ralm::Model>(
      "llama",
      "Llama and its relatives: Hugging Face LlamaForCausalLM, Qwen2ForCausalLM and MistralForCausalLM "
      "safetensors checkpoints, llama.cpp's GGUF files (llama and qwen2 architectures, quantized or not), "
      "or a random Llama of any shape",
      {
          param::string("init", "checkpoint", "where the weights come from").one_of({"checkpoint", "random"}),
          param::path("path", "",
                      "the checkpoint folder (config.json, *.safetensors, tokenizer.model) or a GGUF file "
                      "(llama or qwen2 architecture; f32, f16, bf16, q8_0, q4_0, q4_K and q6_K tensors)"),
          param::string("dtype", "auto",
                        "float weights in memory: f32, or bf16 (rounded to nearest even; float32 sums, "
                        "activations rounded to bf16 for each product; half the bytes decode reads); auto: "
                        "f32 for a checkpoint folder, a GGUF file's own (f16 as f32). Quantized GGUF "
                        "tensors are always used as they are")
              .one_of({"auto", "f32", "bf16"}),
          param::string("kv_cache", "f32",
                        "keys and values in the KV cache: f32, or bf16 (rounded to nearest even; attention "
                        "computes in float32 over them; half the cache's memory and of the bytes decode "
                        "reads from it)")
              .one_of({"f32", "bf16"}),
          param::string("tokenizer", "ids",
                        "init: random: ids (token ids only), bytes (bytes as tokens) or sentencepiece")
              .one_of({"ids", "bytes", "sentencepiece"}),
          param::path("tokenizer_model", "",
                      "init: random, tokenizer: sentencepiece: the tokenizer.model file"),
          param::string_list("special_tokens", {},
                             "tokens to add to the vocabulary (e.g. [\"<MARK_L>\", \"<MARK_R>\"]), each with "
                             "new embedding and output rows, the mean of the existing ones; a checkpoint's "
                             "own added tokens are kept"),
          param::path("adapter", "",
                      "a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors), "
                      "loaded and made active"),
          param::boolean("merge_adapter", false,
                         "merge the adapter into the weights (no per-token cost; one more copy of the "
                         "targeted matrices) instead of applying it as extra low-rank products"),
          param::integer("threads", 0, "threads; 0: the engine's").at_least(0),
          param::integer("context_length", 0, "tokens a sequence can hold; 0: max_position_embeddings")
              .at_least(0),
          param::integer("seed", 0, "init: random: the generator's seed"),
          param::integer("vocab_size", 512, "init: random: vocabulary size").at_least(1),
          param::integer("hidden_size", 128, "init: random: hidden size").at_least(2),
          param::integer("intermediate_size", 344, "init: random: feed-forward size").at_least(1),
          param::integer("num_layers", 2, "init: random: layers").at_least(1),
          param::integer("num_heads", 4, "init: random: attention heads").at_least(1),
          param::integer("num_kv_heads", 0, "init: random: key/value heads; 0: num_heads").at_least(0),
          param::real("rope_theta", 10000.0, "init: random: rotary base").at_least(1),
          param::boolean("tie_embeddings", false, "init: random: output matrix tied to the embeddings"),
      },
      make_model, {.reads_checkpoint = reads_checkpoint});
}
