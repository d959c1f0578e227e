# What the shard tests (xapian_pipeline_test.sh, mpi_dense_test.sh) share,
# sourced after they set $ralm, $source_dir and $work and define die: the
# fixture corpus in small passages, four prompts on its topics, the tiny
# random model every pipeline of theirs uses, and their outputs and hits.

# $work/corpus and $work/prompts.jsonl.
write_corpus_and_prompts() {
  "$ralm" corpus build --source "jsonl:$source_dir/tests/fixtures/corpus/docs.jsonl" \
    --source "tsv:$source_dir/tests/fixtures/corpus/passages.tsv" --words 6 --out "$work/corpus" \
    > /dev/null 2>&1 || die "corpus build failed"
  cat > "$work/prompts.jsonl" <<'JSONL'
{"id": "p1", "prompt": "Lisp is a functional programming"}
{"id": "p2", "prompt": "A compiler translates"}
{"id": "p3", "prompt": "Garbage collection reclaims memory"}
{"id": "p4", "prompt": "Fortran is an imperative"}
JSONL
}

# The model section: a random model small enough that a run takes milliseconds.
tiny_model='{plugin: llama, init: random, seed: 1, tokenizer: bytes, vocab_size: 259, hidden_size: 32,
        intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2, context_length: 512}'

# outputs NAME / hits NAME: what a run of pipeline NAME wrote to out/NAME,
# one line per prompt: the output ids; the passages and scores of its
# non-speculative retrievals.
outputs() { jq -c '{id, output_ids}' "$work/out/$1/outputs.jsonl"; }
hits() { jq -c '{id, hits: [.retrievals[] | select(.speculative | not) | .hits]}' "$work/out/$1/outputs.jsonl"; }
