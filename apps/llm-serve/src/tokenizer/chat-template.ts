/**
 * Chat templates (Jinja, as shipped in tokenizer_config.json or GGUF `tokenizer.chat_template`) rendered with
 * @huggingface/jinja, with the variables transformers' apply_chat_template provides.
 */
import { Template } from '@huggingface/jinja';
import { TokenizerError } from '../errors';
import type { ChatMessage } from '../types';

/** A model's chat template, parsed on first use so that a model with a broken template can still serve completions. */
export class ChatTemplate {
  private parsed: Template | null = null;

  constructor(
    readonly source: string | null,
    private readonly bosToken: string,
    private readonly eosToken: string,
  ) {}

  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    return renderChatTemplate(this.source, messages, {
      addGenerationPrompt,
      bosToken: this.bosToken,
      eosToken: this.eosToken,
      parsed: this.compile(),
    });
  }

  private compile(): Template | undefined {
    if (this.source === null) return undefined;
    this.parsed ??= parseTemplate(this.source);
    return this.parsed;
  }
}

function parseTemplate(source: string): Template {
  try {
    return new Template(source);
  } catch (err) {
    throw new TokenizerError(`the model's chat template does not parse: ${(err as Error).message}`);
  }
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Further template variables (e.g. tools), passed through. */
  variables?: Record<string, unknown>;
  /** A pre-parsed template of `source`, to avoid parsing again. */
  parsed?: Template;
}

/**
 * Renders `messages` with a Jinja chat template. No template → TokenizerError telling the client to use
 * /v1/completions; a template that fails (including its own raise_exception('…')) → TokenizerError with the reason.
 */
export function renderChatTemplate(
  source: string | null,
  messages: readonly ChatMessage[],
  options: RenderOptions = {},
): string {
  if (source === null) {
    throw new TokenizerError(
      'this model has no chat template; use /v1/completions with a plain prompt, or serve a model whose tokenizer defines chat_template.',
    );
  }
  const template = options.parsed ?? parseTemplate(source);
  try {
    return template.render({
      ...options.variables,
      // Plain copies: the template runtime must not see (or mutate) the caller's objects.
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: options.bosToken ?? '',
      eos_token: options.eosToken ?? '',
      // raise_exception is a built-in global of @huggingface/jinja (it refuses a redefinition): it throws an Error
      // carrying the template's message, which lands in the catch below.
    });
  } catch (err) {
    throw new TokenizerError(`the chat template failed for these messages: ${(err as Error).message}`);
  }
}
