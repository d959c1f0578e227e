// The `llama_train` plugin: the `llama` trainer.
#include <algorithm>

#include "llama_trainer.hpp"
#include "ralm/ralm.hpp"

namespace {

std::unique_ptr<ralm::Trainer> make_trainer(const ralm::Params& p, ralm::BuildContext& ctx) {
  using namespace ralm::llama_train;
  namespace fs = std::filesystem;
  LlamaTrainerOptions o;
  auto i32 = [&](const char* key) { return static_cast<std::int32_t>(p.get_int(key)); };
  auto& c = o.model;
  c.vocab_size = i32("vocab_size");
  c.hidden_size = i32("hidden_size");
  c.intermediate_size = i32("intermediate_size");
  c.num_layers = i32("num_layers");
  c.num_heads = i32("num_heads");
  c.num_kv_heads = i32("num_kv_heads") > 0 ? i32("num_kv_heads") : c.num_heads;
  if (c.hidden_size % c.num_heads != 0) p.fail("hidden_size", "must be a multiple of num_heads");
  c.head_dim = c.hidden_size / c.num_heads;
  if (c.num_heads % c.num_kv_heads != 0) p.fail("num_kv_heads", "must divide num_heads");
  if (c.head_dim % 2 != 0) p.fail("num_heads", "hidden_size / num_heads must be even (rotary pairs)");
  o.seq_len = i32("seq_len");
  c.max_position_embeddings = std::max(o.seq_len, i32("max_position_embeddings"));
  c.rope_theta = p.get_float("rope_theta");
  c.rms_norm_eps = p.get_float("rms_norm_eps");
  c.tie_word_embeddings = p.get_bool("tie_embeddings");
  c.validate("trainer");
  o.init_std = p.get_float("init_std");
  o.mode = p.get_string("mode");
  if (o.mode == "lora") {
    o.base = p.get_path("base");
    if (o.base.empty() || !fs::exists(o.base / "config.json"))
      p.fail("base",
             "mode: lora needs the base model's Hugging Face folder (config.json, model.safetensors, "
             "tokenizer.model)");
    o.lora.r = i32("lora_r");
    o.lora.alpha = p.get_float("lora_alpha");
    o.lora.dropout = p.get_float("lora_dropout");
    o.lora.target_modules = p.get_string_list("target_modules");
    for (const auto& m : o.lora.target_modules) {
      if (std::find(kLoraModules.begin(), kLoraModules.end(), m) == kLoraModules.end())
        p.fail("target_modules",
               "unknown module '" + m +
                   "'; the modules are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
    }
    for (auto id : p.get_int_list("trainable_token_ids"))
      o.lora.trainable_tokens.push_back(static_cast<ralm::TokenId>(id));
  }
  o.loss_tokens = i32("loss_tokens");
  if (p.get_string("data") == "retrieval") {
    o.retriever = ctx.retriever();
    if (!o.retriever)
      p.fail("data", "retrieval needs a `retriever:` section in the config (e.g. plugin: bm25)");
    RetrievalLayout r;
    r.layout = p.get_string("layout");
    r.context_tokens = i32("context_tokens");
    r.target_tokens = i32("target_tokens");
    r.query_tokens = i32("query_tokens");
    r.passage_tokens = i32("passage_tokens");
    for (auto id : p.get_int_list("mark_token_ids"))
      r.marks.push_back(static_cast<ralm::TokenId>(id));
    if (!r.marks.empty() && r.marks.size() != 2)
      p.fail("mark_token_ids", "give two ids, <MARK_L>'s and <MARK_R>'s, or none");
    o.retrieval = r;
  }

  o.corpus = p.get_path("corpus");
  if (!fs::exists(o.corpus / "manifest.json")) {
    p.fail("corpus", "no passage store at " + o.corpus.string() +
                         "; build one with `ralm corpus build --source foldoc --source jargon --out " +
                         o.corpus.string() + "`");
  }
  o.out = p.get_path("out");
  o.tokenizer = p.get_string("tokenizer");
  if (o.tokenizer == "bytes" && c.vocab_size < 259)
    p.fail("vocab_size", "the byte tokenizer needs at least 259; raise vocab_size");
  if (o.tokenizer == "sentencepiece") {
    o.tokenizer_model = p.get_path("tokenizer_model");
    if (!o.tokenizer_model.empty() &&
        (o.tokenizer_model.filename() != "tokenizer.model" || !fs::exists(o.tokenizer_model))) {
      p.fail("tokenizer_model",
             "give the path of an existing SentencePiece tokenizer.model, or leave it out to train one");
    }
    o.tokenizer_algorithm = p.get_string("tokenizer_algorithm");
    o.reserved_tokens = i32("reserved_tokens");
    if (o.reserved_tokens >= c.vocab_size) p.fail("reserved_tokens", "must be smaller than vocab_size");
  }
  o.batch_size = i32("batch_size");
  o.grad_accum = i32("grad_accum");
  o.schedule.total_steps = p.get_int("steps");
  o.schedule.lr = p.get_float("lr");
  o.schedule.min_lr = p.get_float("min_lr");
  o.schedule.warmup_steps = p.get_int("warmup");
  o.adamw.beta1 = p.get_float("beta1");
  o.adamw.beta2 = p.get_float("beta2");
  o.adamw.eps = p.get_float("adam_eps");
  o.adamw.weight_decay = p.get_float("weight_decay");
  o.clip = p.get_float("clip");
  o.eval_every = p.get_int("eval_every");
  o.eval_windows = i32("eval_windows");
  o.validation_permille = i32("validation_permille");
  o.checkpoint_every = p.get_int("checkpoint_every");
  o.seed = static_cast<std::uint64_t>(p.get_int("seed"));
  o.threads = p.get_int("threads") > 0 ? i32("threads") : ctx.threads();
  return std::make_unique<LlamaTrainer>(std::move(o));
}

}  // namespace

RALM_PLUGIN("llama-train", "0.1.0", "trains Llama-architecture models for the llama plugin") {
  namespace param = ralm::param;
  registrar.add<ralm::Trainer>(
      "llama",
      "trains a Llama model on a passage store (from scratch, or LoRA over a base; FlashBack's "
      "retrieval-augmented samples); writes Hugging Face folders and PEFT adapters",
      {
          param::required("corpus", ralm::ParamType::Path, "the passage store (`ralm corpus build`)"),
          param::required("out", ralm::ParamType::Path,
                          "output folder: checkpoint/ (resumable) and, once finished, model/"),
          param::string("mode", "full", "full: train every parameter from scratch; lora: LoRA over `base`")
              .one_of({"full", "lora"}),
          param::path("base", "", "mode: lora: the base model's Hugging Face folder"),
          param::integer("lora_r", 16, "mode: lora: rank").at_least(1),
          param::real("lora_alpha", 32.0, "mode: lora: alpha (scale = alpha / r)").at_least(0),
          param::real("lora_dropout", 0.05, "mode: lora: dropout on the adapters' input").between(0, 0.99),
          param::string_list(
              "target_modules", {"q_proj", "v_proj"},
              "mode: lora: adapted layers (q_proj k_proj v_proj o_proj gate_proj up_proj down_proj)"),
          param::int_list(
              "trainable_token_ids", {},
              "mode: lora: token ids whose embedding rows are trained too (tied: output rows too)"),
          param::integer("loss_tokens", 0, "loss on the last n tokens of each window only; 0: every token")
              .at_least(0),
          param::string("data", "windows",
                        "windows: plain token windows; retrieval: FlashBack's retrieval-augmented samples "
                        "(needs a retriever section)")
              .one_of({"windows", "retrieval"}),
          param::string("layout", "append",
                        "data: retrieval: append (FlashBack) or prepend (In-Context RALM)")
              .one_of({"append", "prepend"}),
          param::integer("context_tokens", 112, "data: retrieval: context tokens before the target")
              .at_least(1),
          param::integer("target_tokens", 16, "data: retrieval: target tokens (the only ones with a loss)")
              .at_least(1),
          param::integer("query_tokens", 32, "data: retrieval: the context's last tokens form the query")
              .at_least(1),
          param::integer("passage_tokens", 128, "data: retrieval: the passage is truncated to this")
              .at_least(0),
          param::int_list(
              "mark_token_ids", {},
              "data: retrieval, layout: append: the ids of <MARK_L> and <MARK_R>; empty: no marks"),
          param::string("tokenizer", "bytes", "bytes (bytes as tokens) or sentencepiece (tokenizer_model)")
              .one_of({"bytes", "sentencepiece"}),
          param::path("tokenizer_model", "",
                      "tokenizer: sentencepiece: the tokenizer.model file; empty: train one on the corpus's "
                      "training split into out/tokenizer.model (vocab_size pieces)"),
          param::string("tokenizer_algorithm", "bpe", "a trained SentencePiece tokenizer's algorithm")
              .one_of({"bpe", "unigram"}),
          param::integer(
              "reserved_tokens", 0,
              "a trained tokenizer gets vocab_size - reserved_tokens pieces; the last ids stay free "
              "for added tokens (FlashBack's <MARK_L>, <MARK_R>)")
              .at_least(0),
          param::integer("vocab_size", 512, "vocabulary size (at least the tokenizer's)").at_least(1),
          param::integer("hidden_size", 128, "hidden size").at_least(2),
          param::integer("intermediate_size", 344, "feed-forward size").at_least(1),
          param::integer("num_layers", 2, "layers").at_least(1),
          param::integer("num_heads", 4, "attention heads").at_least(1),
          param::integer("num_kv_heads", 0, "key/value heads; 0: num_heads").at_least(0),
          param::integer("max_position_embeddings", 2048, "written to config.json (at least seq_len)")
              .at_least(1),
          param::real("rope_theta", 10000.0, "rotary base").at_least(1),
          param::real("rms_norm_eps", 1e-5, "RMSNorm epsilon").at_least(1e-12),
          param::boolean("tie_embeddings", true, "output matrix tied to the embeddings"),
          param::real("init_std", 0.02, "standard deviation of the initial weights").at_least(0),
          param::integer("seq_len", 128, "tokens per training window").at_least(2),
          param::integer("batch_size", 8, "windows per micro-batch").at_least(1),
          param::integer("grad_accum", 1, "micro-batches per optimiser step").at_least(1),
          param::integer("steps", 1000, "optimiser steps").at_least(1),
          param::real("lr", 1e-3, "peak learning rate").at_least(0),
          param::real("min_lr", 1e-4, "learning rate at the end of the cosine").at_least(0),
          param::integer("warmup", 100, "linear warm-up steps").at_least(0),
          param::real("weight_decay", 0.1, "AdamW's decoupled weight decay (matrices only)").at_least(0),
          param::real("beta1", 0.9, "AdamW beta1").between(0, 1),
          param::real("beta2", 0.95, "AdamW beta2").between(0, 1),
          param::real("adam_eps", 1e-8, "AdamW epsilon").at_least(0),
          param::real("clip", 1.0, "clip the gradient's global L2 norm to this; 0: no clipping").at_least(0),
          param::integer("eval_every", 100, "log held-out perplexity every N steps; 0: only at the end")
              .at_least(0),
          param::integer("eval_windows", 64, "held-out windows per evaluation").at_least(1),
          param::integer("validation_permille", 20, "documents per thousand held out").between(0, 1000),
          param::integer("checkpoint_every", 100,
                         "write a checkpoint every N steps (and at the end); 0: "
                         "only at the end")
              .at_least(0),
          param::integer("seed", 0, "seed of the initial weights and the data order"),
          param::integer("threads", 0, "threads; 0: engine.threads").at_least(0),
      },
      make_trainer);
}
