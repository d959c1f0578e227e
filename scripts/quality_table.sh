#!/usr/bin/env bash
# FlashBack's ablation on the project's data (issue 6): held-out perplexity of
# the 16 target tokens after 112 tokens of context, over every held-out window
# of the default corpus, for the shipped model (models/tiny):
#   no retrieval; prepend; append without fine-tuning (rows measured with
#   `ralm train --eval-only`, a LoRA start being the base model itself);
#   append + LoRA without marks; append + LoRA + marks (FlashBack, the shipped
#   adapter's run); prepend + LoRA (each trained by models/configs/tiny-flashback.yaml
#   with the overrides shown).
# BM25 retrieval with the context's last 32 tokens, the window's own document
# excluded. Prints a Markdown table; writes under out/train/quality/.
#
#   nice -n 19 scripts/quality_table.sh [extra `ralm train` arguments for every row]
set -euo pipefail
cd "$(dirname "$0")/.."
ralm=build/bin/ralm
config=models/configs/tiny-flashback.yaml
out=out/train/quality
no_marks=(--set 'trainer.mark_token_ids=[]' --set 'trainer.trainable_token_ids=[]')
extra=("$@")
mkdir -p "$out"

perplexity() { sed -n 's/.*held-out perplexity \([0-9.]*\).*/\1/p' | head -1; }

row() {  # NAME, then the arguments of `ralm train`
  local name=$1
  shift
  local p
  p=$("$ralm" train "$config" "$@" "${extra[@]}" | perplexity)
  printf '| %s | %s |\n' "$name" "$p" >>"$out/table.md"
}

printf '| setting | held-out perplexity (16 target tokens) |\n|---|---|\n' >"$out/table.md"
row "no retrieval" --eval-only --set trainer.data=windows --set trainer.seq_len=128 --set trainer.loss_tokens=16 \
  --set "trainer.out=$out/none"
row "prepend, no fine-tuning" --eval-only --set trainer.layout=prepend "${no_marks[@]}" --set "trainer.out=$out/prepend"
row "append, no fine-tuning" --eval-only "${no_marks[@]}" --set "trainer.out=$out/append"
rm -rf "$out/append-lora" "$out/flashback" "$out/prepend-lora"
row "append + LoRA, no marking tokens" "${no_marks[@]}" --set "trainer.out=$out/append-lora"
row "append + LoRA + marking tokens (FlashBack)" --set "trainer.out=$out/flashback"
row "prepend + LoRA" --set trainer.layout=prepend "${no_marks[@]}" --set "trainer.out=$out/prepend-lora"
cat "$out/table.md"
