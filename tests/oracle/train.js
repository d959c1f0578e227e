// Trains the three tokenizer.json fixtures of tests/fixtures/tokenizers with
// Hugging Face tokenizers (the npm package's native build) on the text of the
// corpus fixture. Each starts as a tokenizer.json skeleton with an empty
// model (the pipeline a real checkpoint of that family has), is trained by
// the model's own trainer, then gets the vocabulary entries a real
// checkpoint has but training on a small corpus cannot produce (the whole
// byte alphabet, byte-fallback tokens, the special tokens' ids) and its
// added tokens; the library itself writes the final file.
//
//   node tests/oracle/train.js tests/fixtures/corpus tests/fixtures/tokenizers
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { Tokenizer, AddedToken } = require('@anush008/tokenizers');

const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The corpus fixture's text, one line a training sequence.
function corpusText(dir) {
  const lines = [];
  const walk = (d) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.dz')) lines.push(...zlib.gunzipSync(fs.readFileSync(p)).toString('utf8').split('\n'));
      else if (!name.endsWith('.index')) lines.push(...fs.readFileSync(p, 'utf8').split('\n'));
    }
  };
  walk(dir);
  return lines.filter((l) => l.trim().length > 0);
}

function train(skeleton, files) {
  const tok = Tokenizer.fromString(JSON.stringify(skeleton));
  tok.train(files);
  const out = path.join(os.tmpdir(), `ralm-train-${process.pid}.json`);
  tok.save(out, false);
  const json = JSON.parse(fs.readFileSync(out, 'utf8'));
  fs.unlinkSync(out);
  return json;
}

// Vocabulary `first` (in order), then the trained tokens in their order,
// then `last`: ids renumbered densely, merges unchanged (they name tokens).
function relayout(model, first, last) {
  const trained = Object.entries(model.vocab).sort((a, b) => a[1] - b[1]).map((e) => e[0]);
  const vocab = {};
  for (const t of [...first, ...trained, ...last]) if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
  model.vocab = vocab;
}

function finish(json, added, postProcessor, file) {
  json.added_tokens = [];
  json.post_processor = null;
  const tok = Tokenizer.fromString(JSON.stringify(json));
  tok.addAddedTokens(added.map(([content, special, options]) => new AddedToken(content, special, options)));
  const tmp = path.join(os.tmpdir(), `ralm-train-${process.pid}.json`);
  tok.save(tmp, false);
  const withAdded = JSON.parse(fs.readFileSync(tmp, 'utf8'));
  fs.unlinkSync(tmp);
  const id = (content) => withAdded.added_tokens.find((t) => t.content === content).id;
  withAdded.post_processor = postProcessor(id);
  const final = Tokenizer.fromString(JSON.stringify(withAdded));
  final.save(file, true);
  console.log(`${file}: ${final.getVocabSize(true)} tokens`);
}

const bpeModel = (extra) => ({
  type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
  fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: {}, merges: [], ...extra,
});
const skeleton = (parts) => ({
  version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: null,
  post_processor: null, decoder: null, ...parts,
});

function byteAlphabet() {
  const bs = [];
  for (let b = 0x21; b <= 0x7e; ++b) bs.push(b);
  for (let b = 0xa1; b <= 0xac; ++b) bs.push(b);
  for (let b = 0xae; b <= 0xff; ++b) bs.push(b);
  const chars = bs.map((b) => String.fromCodePoint(b));
  let n = 0;
  for (let b = 0; b < 256; ++b) if (!bs.includes(b)) chars.push(String.fromCodePoint(256 + n++));
  return chars;
}

function main() {
  const [corpusDir, outDir] = process.argv.slice(2);
  const text = path.join(os.tmpdir(), `ralm-corpus-${process.pid}.txt`);
  fs.writeFileSync(text, corpusText(corpusDir).join('\n') + '\n');
  fs.mkdirSync(outDir, { recursive: true });

  // Byte-level BPE as Llama 3 configures it.
  const byteLevel = train(skeleton({
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: LLAMA3_SPLIT }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: bpeModel({ ignore_merges: true }),
  }), [text]);
  relayout(byteLevel.model, [], byteAlphabet());
  byteLevel.model.ignore_merges = true;
  finish(byteLevel, [
    ['<|begin_of_text|>', true], ['<|end_of_text|>', true],
    ['<|retrieved|>', true, { rightStrip: true }], ['ralmkit', false],
  ], (id) => ({ type: 'Sequence', processors: [
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    { type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
             { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [id('<|begin_of_text|>')],
                                               tokens: ['<|begin_of_text|>'] } } }] }),
  path.join(outDir, 'byte_level_bpe.json'));

  // SentencePiece-style BPE with byte fallback, as Llama 2's tokenizer.json.
  // Trained with Metaspace words (merges never cross a word, as
  // SentencePiece's do not); the file has Llama 2's normaliser instead.
  const spiece = train(skeleton({
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
    model: bpeModel({ unk_token: '<unk>', fuse_unk: true, byte_fallback: true }),
  }), [text]);
  const byteTokens = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  relayout(spiece.model, ['<unk>', '<s>', '</s>', ...byteTokens], []);
  spiece.pre_tokenizer = null;
  spiece.normalizer = { type: 'Sequence', normalizers: [
    { type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] };
  spiece.decoder = { type: 'Sequence', decoders: [
    { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 }] };
  finish(spiece, [
    ['<unk>', true], ['<s>', true], ['</s>', true], ['<MARK>', true, { leftStrip: true }],
    ['ralmkit', false, { singleWord: true }],
  ], (id) => ({ type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
           { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [id('<s>')], tokens: ['<s>'] } } }),
  path.join(outDir, 'sentencepiece_bpe.json'));

  // WordPiece as bert-base-uncased.
  const wordpiece = train(skeleton({
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null,
                  lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
             vocab: {} },
  }), [text]);
  relayout(wordpiece.model, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'], []);
  finish(wordpiece, [
    ['[PAD]', true], ['[UNK]', true], ['[CLS]', true], ['[SEP]', true], ['[MASK]', true], ['RalmKit', false],
  ], (id) => ({ type: 'BertProcessing', sep: ['[SEP]', id('[SEP]')], cls: ['[CLS]', id('[CLS]')] }),
  path.join(outDir, 'wordpiece.json'));
  fs.unlinkSync(text);
}

main();
