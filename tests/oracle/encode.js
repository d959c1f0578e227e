// Hugging Face tokenizers' answers for ralm's tokenizer.json test: reads one
// JSON string a line and writes, a line each, the ids of encode(text,
// add_special_tokens) both ways and decode(those with special tokens,
// skip_special_tokens=false).
//
//   node tests/oracle/encode.js TOKENIZER_JSON STRINGS_JSONL OUT_JSONL
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');

async function main() {
  const [tokenizerFile, stringsFile, outFile] = process.argv.slice(2);
  const tokenizer = Tokenizer.fromFile(tokenizerFile);
  const texts = fs.readFileSync(stringsFile, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  const plain = await tokenizer.encodeBatch(texts, { addSpecialTokens: false });
  const special = await tokenizer.encodeBatch(texts, { addSpecialTokens: true });
  const specialIds = special.map((e) => e.getIds());
  const decoded = await tokenizer.decodeBatch(specialIds, false);
  const lines = texts.map((_, i) =>
    JSON.stringify({ plain: plain[i].getIds(), special: specialIds[i], decoded: decoded[i] }));
  fs.writeFileSync(outFile, lines.join('\n') + '\n');
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
