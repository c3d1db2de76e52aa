import type {
  Completion,
  CompletionChoice,
  CompletionChunk,
  CompletionCreateParams,
  CompletionRequestOptions,
  CompletionsApi,
  CompletionUsage,
  GenerateChunk,
  GenerateOptions,
  ModelInput,
} from './api.js';
import { InvalidInputError } from './errors.js';

/** What the facade needs of a runtime: generation, and the tokenizer's count of a text prompt (for usage). */
export interface CompletionSource {
  generate(tenantId: string, prompt: ModelInput, options?: GenerateOptions): AsyncIterable<GenerateChunk>;
  promptTokens(prompt: string): number | Promise<number>;
}

/** OpenAI's default for the legacy completions endpoint. */
const DEFAULT_MAX_TOKENS = 16;

function randomId(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return `cmpl-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

interface Checked {
  readonly model: string;
  readonly prompt: ModelInput;
  readonly stream: boolean;
  readonly options: GenerateOptions;
}

/** OpenAI's parameter shapes, checked here; value ranges (temperature, ids...) are generate()'s to check. */
function check(p: CompletionCreateParams, signal: AbortSignal | undefined): Checked {
  if (typeof p !== 'object' || p === null) throw new InvalidInputError('completions.create takes a parameters object');
  if (typeof p.model !== 'string' || p.model.length === 0) throw new InvalidInputError('model must be a tenant id (a non-empty string)');
  const prompt = p.prompt;
  if (typeof prompt !== 'string' && !(Array.isArray(prompt) && prompt.every((id) => typeof id === 'number'))) {
    throw new InvalidInputError('prompt must be a string or an array of token ids (one prompt per request)');
  }
  const maxTokens = p.max_tokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidInputError(`max_tokens must be an integer >= 0, got ${String(p.max_tokens)}`);
  if (p.stream !== undefined && p.stream !== null && typeof p.stream !== 'boolean') throw new InvalidInputError('stream must be a boolean');
  const stop = p.stop === undefined || p.stop === null ? [] : typeof p.stop === 'string' ? [p.stop] : p.stop;
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new InvalidInputError('stop must be a non-empty string or an array of non-empty strings');
  }
  for (const [name, v] of [['temperature', p.temperature], ['top_p', p.top_p], ['seed', p.seed]] as const) {
    if (v !== undefined && typeof v !== 'number') throw new InvalidInputError(`${name} must be a number`);
  }
  return {
    model: p.model,
    prompt,
    stream: p.stream === true,
    options: {
      maxTokens,
      temperature: p.temperature ?? 1,
      ...(p.top_p !== undefined ? { topP: p.top_p } : {}),
      ...(p.seed !== undefined ? { seed: p.seed } : {}),
      ...(stop.length ? { stop } : {}),
      ...(signal ? { signal } : {}),
    },
  };
}

/**
 * OpenAI-style completions (`model` = tenant id) over any runtime's generate(): the in-process
 * runtimes and the worker client share it. Non-streaming resolves to the whole completion with
 * usage; streaming resolves to an iterable of chunks, each with the text new since the last.
 * Bad parameters reject before generation starts; so do generate()'s own input errors, since
 * the first token is awaited before the stream is handed out.
 */
export function createCompletions(source: CompletionSource): CompletionsApi {
  async function create(params: CompletionCreateParams, requestOptions?: CompletionRequestOptions): Promise<Completion | AsyncIterable<CompletionChunk>> {
    const c = check(params, requestOptions?.signal);
    const id = randomId();
    const created = Math.floor(Date.now() / 1000);
    const promptTokens = typeof c.prompt === 'string' ? await source.promptTokens(c.prompt) : c.prompt.length;
    const iterator = source.generate(c.model, c.prompt, c.options)[Symbol.asyncIterator]();
    // Awaited here so that unknown tenants and bad input reject create() itself, as OpenAI's 4xx do.
    const first = await iterator.next();
    let completionTokens = 0;
    const usage = (): CompletionUsage => ({ prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens });
    const reason = (chunk: GenerateChunk): CompletionChoice['finish_reason'] => (chunk.done ? (chunk.finishReason ?? 'stop') : null);
    const count = (chunk: GenerateChunk): void => {
      if (chunk.tokenId >= 0) completionTokens++;
    };

    if (!c.stream) {
      let text = '';
      let finish: CompletionChoice['finish_reason'] = 'length';
      for (let r = first; !r.done; r = await iterator.next()) {
        count(r.value);
        text += r.value.text;
        if (r.value.done) finish = reason(r.value);
      }
      return { id, object: 'text_completion', created, model: c.model, choices: [{ index: 0, text, finish_reason: finish }], usage: usage() };
    }

    async function* chunks(): AsyncGenerator<CompletionChunk, void, undefined> {
      try {
        let r = first;
        if (r.done) {
          // Nothing generated (max_tokens 0): one closing chunk still reports the outcome.
          yield { id, object: 'text_completion', created, model: c.model, choices: [{ index: 0, text: '', finish_reason: 'length' }], usage: usage() };
          return;
        }
        for (; !r.done; r = await iterator.next()) {
          count(r.value);
          const choice: CompletionChoice = { index: 0, text: r.value.text, finish_reason: reason(r.value) };
          yield { id, object: 'text_completion', created, model: c.model, choices: [choice], ...(r.value.done ? { usage: usage() } : {}) };
        }
      } finally {
        // A consumer that stops early ends the generation (and frees its memory) at once.
        await iterator.return?.();
      }
    }
    return chunks();
  }
  return { create } as CompletionsApi;
}
