import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedTokenizerFiles } from '../../src/embedded/tokenizer';
import { TokenizerError } from '../../src/errors';
import { renderChatTemplate } from '../../src/tokenizer/chat-template';
import { hfTokenizer, hfTokenizerFromDir } from '../../src/tokenizer/hf';
import { llama2StyleTokenizerJson, ROUND_TRIP_TEXTS, roundTripSpmVocab, spm } from './helpers';

const { tokenizerJson, tokenizerConfig } = embeddedTokenizerFiles();
const BOS = 507;
const messages = [
  { role: 'system', content: 'S' },
  { role: 'user', content: 'U' },
];

describe('hfTokenizer', () => {
  it('honours add_bos_token against the post-processor', () => {
    const withPost = hfTokenizer(tokenizerJson, { ...tokenizerConfig, add_bos_token: false });
    expect(withPost.encode('hi')[0]).not.toBe(BOS);
    const noPost = { ...tokenizerJson, post_processor: null };
    expect(hfTokenizer(noPost, { ...tokenizerConfig, add_bos_token: true }).encode('hi')[0]).toBe(BOS);
    expect(hfTokenizer(noPost, { ...tokenizerConfig, add_bos_token: undefined }).encode('hi')[0]).not.toBe(BOS);
    // add_special_tokens = false never adds it.
    expect(
      hfTokenizer(noPost, { ...tokenizerConfig, add_bos_token: true }).encode('hi', { addSpecialTokens: false }),
    ).not.toContain(BOS);
  });

  it('takes bos/eos from tokenizer_config (string or AddedToken object) and extras', () => {
    const t = hfTokenizer(
      tokenizerJson,
      {
        ...tokenizerConfig,
        bos_token: { content: '<|begin_of_text|>', special: true },
        eos_token: { content: '<|eot_id|>' },
      },
      { eosTokenIds: [508, 511] },
    );
    expect(t.bosTokenId).toBe(BOS);
    expect(t.eosTokenIds).toEqual([511, 508]);
    expect(hfTokenizer(tokenizerJson, {}).bosTokenId).toBeNull();
  });

  it("reads the list-of-named-templates form, taking 'default'", () => {
    const t = hfTokenizer(tokenizerJson, {
      ...tokenizerConfig,
      chat_template: [
        { name: 'tool_use', template: 'TOOLS' },
        { name: 'default', template: '{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}' },
      ],
    });
    expect(t.applyChatTemplate(messages)).toBe('[system:S][user:U]');
  });

  it('decodes [] to "", rejects ids outside the vocabulary and does not clean up spaces', () => {
    const t = hfTokenizer(tokenizerJson, tokenizerConfig);
    expect(t.decode([])).toBe('');
    expect(() => t.decode([512])).toThrow(TokenizerError);
    expect(() => t.decode([1.5])).toThrow(/outside the vocabulary/);
    const text = "a . b , c ! d ? e 's f n't";
    expect(t.decode(t.encode(text))).toBe(text);
  });

  it('a Llama-2-style tokenizer.json (byte fallback, Strip decoder) round-trips and matches the SentencePiece ids', () => {
    const t = hfTokenizer(llama2StyleTokenizerJson(), { bos_token: '<s>', eos_token: '</s>' });
    const reference = spm(roundTripSpmVocab());
    for (const text of ROUND_TRIP_TEXTS) {
      const ids = t.encode(text);
      expect(ids).toEqual(reference.encode(text));
      expect(t.decode(ids)).toBe(text);
    }
    expect(t.bosTokenId).toBe(1);
    expect(t.eosTokenIds).toEqual([2]);
  });

  it('wraps a broken tokenizer.json in a TokenizerError', () => {
    expect(() => hfTokenizer({ model: { type: 'Nope' } }, {})).toThrow(TokenizerError);
  });
});

describe('hfTokenizerFromDir', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-tok-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads tokenizer.json, tokenizer_config.json, generation_config.json and chat_template.jinja', () => {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...tokenizerConfig, chat_template: undefined }));
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [508, 511] }));
    writeFileSync(join(dir, 'chat_template.jinja'), '{{ bos_token }}{{ messages[0].content }}');
    const t = hfTokenizerFromDir(dir);
    expect(t.eosTokenIds).toEqual([508, 511]);
    expect(t.applyChatTemplate(messages)).toBe('<|begin_of_text|>S');
    expect(t.decode(t.encode('round trip ✓'))).toBe('round trip ✓');
  });

  it('explains a missing tokenizer.json and bad JSON', () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    writeFileSync(join(empty, 'tokenizer.model'), '');
    expect(() => hfTokenizerFromDir(empty)).toThrow(/no tokenizer.json.*tokenizer.model/);
    writeFileSync(join(empty, 'tokenizer.json'), '{ nope');
    expect(() => hfTokenizerFromDir(empty)).toThrow(/tokenizer.json is not valid JSON/);
  });
});

describe('chat templates', () => {
  it('no template → a TokenizerError pointing to /v1/completions', () => {
    const t = hfTokenizer(tokenizerJson, { ...tokenizerConfig, chat_template: undefined });
    expect(t.chatTemplate).toBeNull();
    expect(() => t.applyChatTemplate(messages)).toThrow(TokenizerError);
    expect(() => t.applyChatTemplate(messages)).toThrow(/this model has no chat template; use \/v1\/completions/);
  });

  it("a template's raise_exception becomes a TokenizerError carrying its message", () => {
    const source =
      "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}";
    expect(() => renderChatTemplate(source, messages)).toThrow(TokenizerError);
    expect(() => renderChatTemplate(source, messages)).toThrow(/Conversation must start with user/);
  });

  it('a template that does not parse fails on use, not on load', () => {
    const t = hfTokenizer(tokenizerJson, { ...tokenizerConfig, chat_template: '{% if %}' });
    expect(t.encode('still works').length).toBeGreaterThan(1);
    expect(() => t.applyChatTemplate(messages)).toThrow(/chat template does not parse/);
  });

  it('passes bos/eos strings and add_generation_prompt', () => {
    const source =
      '{{ bos_token }}|{{ eos_token }}|{% if add_generation_prompt %}gen{% endif %}|{{ messages | length }}';
    expect(renderChatTemplate(source, messages, { bosToken: '<s>', eosToken: '</s>', addGenerationPrompt: true })).toBe(
      '<s>|</s>|gen|2',
    );
  });
});
