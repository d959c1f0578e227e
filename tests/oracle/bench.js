// Hugging Face tokenizers' encode throughput on a text file, one line a call,
// each awaited before the next (one thread, as ralm's tokenizer_bench
// measures). Prints {"tokens": N, "bytes": B, "seconds": S}.
//
//   RAYON_NUM_THREADS=1 node tests/oracle/bench.js TOKENIZER_JSON TEXT_FILE
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');

async function main() {
  const [tokenizerFile, textFile] = process.argv.slice(2);
  const tokenizer = Tokenizer.fromFile(tokenizerFile);
  const lines = fs.readFileSync(textFile, 'utf8').split('\n').filter((l) => l.length > 0);
  let best = Infinity;
  let tokens = 0;
  for (let rep = 0; rep < 5; ++rep) {
    const start = process.hrtime.bigint();
    tokens = 0;
    for (const line of lines) tokens += (await tokenizer.encode(line, null, { addSpecialTokens: false })).getLength();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);
  console.log(JSON.stringify({ tokens, bytes, seconds: best }));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
