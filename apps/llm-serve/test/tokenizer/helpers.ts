/** Shared fixtures for the tokenizer tests. */
import { SpmTokenizer, type SpmVocab } from '../../src/tokenizer/spm';

/** Texts every tokenizer must round-trip: ASCII, accents, CJK, emoji (incl. ZWJ and flags), whitespace runs. */
export const ROUND_TRIP_TEXTS = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  "It's 09:30 — don't panic; 3.14159 ≈ π!",
  'café naïve façade résumé Zürich',
  '日本語のテキストと中文文本，한국어',
  'emoji 🙂🚀 family 👨‍👩‍👧 flag 🇯🇵',
  'line one\nline two\n\n\nline five',
  '  leading spaces, trailing spaces   ',
  '\ttabs\tand\r\nCRLF\r\n',
  'a     b          c',
  ' ',
  '\n',
  'x',
];

/**
 * The hand-checked SentencePiece vocabulary: specials, four characters, three merges and two byte tokens.
 * Scores are chosen per test to steer the merge order.
 */
export function handVocab(scores: { ab: number; bc: number; spaceA: number }): SpmVocab {
  const pieces: [string, number][] = [
    ['<unk>', 0],
    ['<s>', 0],
    ['</s>', 0],
    ['\u2581', -4], // 3
    ['a', -4], // 4
    ['b', -4], // 5
    ['c', -4], // 6
    ['ab', scores.ab], // 7
    ['bc', scores.bc], // 8
    ['\u2581a', scores.spaceA], // 9
    ['<0xC3>', 0], // 10
    ['<0xA9>', 0], // 11
  ];
  return {
    tokens: pieces.map((p) => p[0]),
    scores: pieces.map((p) => p[1]),
    bosTokenId: 1,
    eosTokenIds: [2],
    unkTokenId: 0,
  };
}

/** A SentencePiece vocabulary with all 256 byte tokens and some English pieces, for round trips. */
export function roundTripSpmVocab(): SpmVocab {
  const tokens = ['<unk>', '<s>', '</s>'];
  for (let b = 0; b < 256; b++) tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const pieces = [
    '\u2581',
    ...'abcdefghijklmnopqrstuvwxyzTHLI.,'.split(''),
    '\u2581t',
    'he',
    '\u2581the',
    '\u2581a',
    'in',
    'er',
    '\u2581s',
    'on',
    '\u2581\u2581',
    'é',
    '日',
    '本',
    '日本',
  ];
  tokens.push(...pieces);
  // Longer pieces score higher, as in trained vocabularies, so they win the merges.
  const scores = tokens.map((t, i) => (i < 259 ? 0 : t.length - 10 - i * 1e-3));
  return { tokens, scores, bosTokenId: 1, eosTokenIds: [2], unkTokenId: 0 };
}

export function spm(vocab: SpmVocab): SpmTokenizer {
  return new SpmTokenizer(vocab);
}

/** Deterministic PRNG for property tests: the project's mulberry32. */
export { rng as prng } from '@tessera/device/testing';

/**
 * A Llama-2-style tokenizer.json (what transformers saves for SentencePiece models): BPE with byte fallback over the
 * roundTripSpmVocab pieces, merges derived from the pieces' splits (best-scoring piece first), a Prepend/Replace
 * normaliser and the Replace/ByteFallback/Fuse/Strip decoder that strips the first leading space.
 */
export function llama2StyleTokenizerJson(): object {
  const v = roundTripSpmVocab();
  const vocab = Object.fromEntries(v.tokens.map((t, id) => [t, id]));
  const merges: [string, string, number][] = [];
  v.tokens.forEach((piece, id) => {
    const chars = Array.from(piece);
    if (id < 259 || chars.length < 2) return;
    for (let i = 1; i < chars.length; i++) {
      const [a, b] = [chars.slice(0, i).join(''), chars.slice(i).join('')];
      if (a in vocab && b in vocab) merges.push([a, b, v.scores[id]!]);
    }
  });
  merges.sort((x, y) => y[2] - x[2]);
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: '1.0',
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      unk_token: '<unk>',
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
}
