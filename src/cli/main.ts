import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HmiError } from '../errors.js';
import { parseArgs, stringFlag } from './args.js';
import { UsageError } from './errors.js';
import { INFER_SWITCHES, INFER_VALUED, runInfer } from './infer.js';
import { GENERATE_SWITCHES, GENERATE_VALUED, runGenerate } from './generate.js';
import { PLOT_SWITCHES, PLOT_VALUED, runPlot } from './plot.js';
import { CLASSIFY_SWITCHES, CLASSIFY_VALUED, classifyTable, runClassify } from './classify.js';
import { runScore, SCORE_SWITCHES, SCORE_VALUED } from './score.js';
import { runTrain, TRAIN_SWITCHES, TRAIN_VALUED } from './train.js';

export const USAGE = `hmi: HMI-Web runtime on the command line (Node + Dawn WebGPU)

Usage:
  hmi infer --model <dir> [--adapter <peft dir>] (--input-ids 101,7592,102 | --text "...")
            [--output hidden|logits] [--split S] [--json]
      Runs a BERT or GPT-2 checkpoint (HF layout: config.json, model.safetensors, and
      tokenizer.json or vocab.txt or vocab.json + merges.txt; without them, --input-ids
      only) on the GPU, optionally with a PEFT LoRA adapter.
      --output   BERT: hidden = last_hidden_state [seq, H], logits = classifier [labels]
                 (default when the checkpoint or adapter has a classifier);
                 GPT-2: hidden = ln_f output [seq, H], logits = LM head [seq, vocab] (default)
      --split S  run layers 0..S-1 and S..L-1 as two passes (the hPLM split); same result
      --json     print one JSON object {"shape": [...], "data": [...]} on stdout
  hmi generate --model <dir> [--adapter <peft dir>] (--prompt "..." | --input-ids 464,3290)
            [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--json]
      Continues the prompt with a GPT-2 checkpoint (optionally with a PEFT LoRA adapter) on
      the hGPT generation runtime. Greedy unless --temperature is given; --max-tokens
      defaults to 32.
      --json     print {"prompt_tokens", "tokens", "text", "finish_reason"} on stdout
  hmi classify --model <dir> --adapter <peft dir> (--text "..." | --input-ids 2,57,3)
            [--truncate] [--split S [--lower-adapter <peft dir>]] [--json]
      Classifies with a BERT checkpoint and a PEFT adapter with a classifier head, on the
      hBERT runtime. The tenant runs every layer, unless --split S (layers below S from the
      general domain's PLOT) or --lower-adapter (a domain whose lower layers are that LoRA).
      --truncate an input longer than the model's positions keeps its first max-1 tokens
                 and ends with [SEP]; without it, too long is an error
      --json     print {"label", "labels", "scores"} (softmax over the adapter's labels)
  hmi score --model <dir> [--adapter <peft dir>] (--text "..." | --input-ids 464,3290)
            [--split S [--lower-adapter <peft dir>]] [--json]
      How likely a GPT-2 checkpoint (optionally with a PEFT LoRA adapter) finds the text:
      the log-probability of each token given those before it, on the hGPT runtime.
      --split and --lower-adapter as for classify.
      --json     print {"tokens", "perplexity", "meanLogprob"} (natural log)
  hmi plot build --model <dir> --corpus <file> --store <dir> [--domain <id>]
            [--lower-adapter <peft dir>] [--budget N] [--split S] [--json]
      Builds a domain's PLOT (each tri-gram of the corpus -> the lower layers' output) and
      stores it in <dir> in chunks that a runtime loads lazily (Node: new PlotStore(new
      DirChunkStore(dir))). The corpus has one text per line. --domain defaults to the
      general domain (the base model's lower layers, at most 20,000 entries); another id is
      a child of it, with its own lower layers when --lower-adapter (a PEFT LoRA on layers
      below the split) is given. Progress goes to stderr.
      --json     print the build report {"sequences","tokens","distinct","entries","bytes"}
  hmi plot deviation --model <dir> --corpus <file> --store <dir> --domain <id>
            [--lower-adapter <peft dir>] [--split S] [--json]
      How far policy inherit (the general domain's stored entries) drifts from exact (the
      domain's own lower layers) on the corpus: {"domain","sameAsExact":false,"meanCosine",
      "maxAbsDiff","rows","inheritedRows"}. Where inherit cannot differ (no --lower-adapter, or
      no token served from the stored PLOT) it says so: {"domain","sameAsExact":true,"reason"}.
  hmi train --model <dir> --data <file.jsonl|file.json|file.csv> --out <dir> [--domain <id>]
            [--id NAME] [--seed N] [--rank R] [--alpha A] [--epochs E] [--lr X]
            [--batch-size B] [--validation FRACTION]
      Trains a tenant's LoRA on the GPU (runtime.tenants.train, base model frozen) and writes
      it to <dir> as a PEFT adapter (adapter_config.json with the labels +
      adapter_model.safetensors), whole or not at all; <dir> must be new, empty or an earlier
      adapter. BERT data: one {"text": ..., "label": ...} per line (JSONL), a JSON array of
      them, or CSV with a header row naming "text" and "label"; GPT-2 data: {"text": ...} or a
      JSON string per line, or CSV with a "text" column. --domain trains the tenant on the path
      that domain's tenants are served by (its lower layers and PLOT from the bundle index.json
      next to the model); without it the LoRA adapts every layer. Defaults: rank 8, alpha 2 x
      rank, 3 epochs, lr 2e-3, batch 32 (BERT) / 8 (GPT-2), seed 0, validation 0.1 of the data
      when it has 20 examples or more, --id the name of <dir>. Progress goes to stderr, one
      line per step; stdout gets the result as JSON (epochs' loss and validation, tokens/s).
  hmi make-model [--out synthetic-models]
      Writes SYNTHETIC models (random weights, for tests and load experiments);
      the embedded defaults in public/models are trained (npm run train).
  hmi --help

Exit codes: 0 ok, 1 error (message on stderr), 2 usage error.`;

function makeModels(out: string | undefined): number {
  const script = fileURLToPath(new URL('../../scripts/make-models.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [script, resolve(out ?? 'synthetic-models')], { stdio: 'inherit' });
  return r.status ?? 1;
}

async function dispatchCommand(argv: readonly string[], stdout: (s: string) => void, stderr: (s: string) => void): Promise<number> {
  if (argv.length === 0) throw new UsageError('no command given');
  if (argv.includes('--help') || argv.includes('-h')) {
    stdout(USAGE);
    return 0;
  }
  switch (argv[0]) {
    case 'infer': {
      const args = parseArgs(argv.slice(1), INFER_VALUED, INFER_SWITCHES);
      if (args.command !== undefined) throw new UsageError(`unexpected argument "${args.command}"`);
      const result = await runInfer(args);
      stdout(args.flags.has('json') ? JSON.stringify({ shape: result.shape, data: Array.from(result.data) }) : result.summary.join('\n'));
      return 0;
    }
    case 'generate': {
      const args = parseArgs(argv.slice(1), GENERATE_VALUED, GENERATE_SWITCHES);
      if (args.command !== undefined) throw new UsageError(`unexpected argument "${args.command}"`);
      const r = await runGenerate(args);
      stdout(
        args.flags.has('json')
          ? JSON.stringify({ prompt_tokens: r.promptTokens, tokens: r.tokens, text: r.text, finish_reason: r.finishReason })
          : r.hasTokenizer
            ? r.text
            : `token ids (the model has no tokenizer files): ${r.tokens.join(',')}`,
      );
      return 0;
    }
    case 'classify': {
      const args = parseArgs(argv.slice(1), CLASSIFY_VALUED, CLASSIFY_SWITCHES);
      if (args.command !== undefined) throw new UsageError(`unexpected argument "${args.command}"`);
      const r = await runClassify(args);
      stdout(args.flags.has('json') ? JSON.stringify({ label: r.label, labels: r.labels, scores: r.scores }) : classifyTable(r));
      return 0;
    }
    case 'score': {
      const args = parseArgs(argv.slice(1), SCORE_VALUED, SCORE_SWITCHES);
      if (args.command !== undefined) throw new UsageError(`unexpected argument "${args.command}"`);
      const r = await runScore(args);
      stdout(
        args.flags.has('json')
          ? JSON.stringify({ tokens: r.tokens, perplexity: r.perplexity, meanLogprob: r.meanLogprob })
          : `${r.tokens} tokens: perplexity ${r.perplexity.toFixed(4)}, mean log-probability ${r.meanLogprob.toFixed(4)}`,
      );
      return 0;
    }
    case 'plot': {
      const args = parseArgs(argv.slice(1), PLOT_VALUED, PLOT_SWITCHES);
      const r = await runPlot(args, (p) => stderr(`${p.phase} ${p.done}/${p.total}`));
      const json = args.flags.has('json');
      if (r.command === 'build') {
        stdout(json ? JSON.stringify(r.report) : `${r.report.entries} entries (${r.report.distinct} distinct tri-grams of ${r.report.tokens} tokens in ${r.report.sequences} texts), ${(r.report.bytes / 2 ** 20).toFixed(2)} MiB`);
      } else if (json) {
        stdout(JSON.stringify({ domain: r.domain, sameAsExact: r.sameAsExact, ...(r.reason !== undefined ? { reason: r.reason } : {}), ...r.deviation }));
      } else if (r.sameAsExact || r.deviation === undefined) {
        stdout(r.reason ?? 'inherit serves the same values as exact');
      } else {
        stdout(`inherit vs exact: mean cosine ${r.deviation.meanCosine.toFixed(6)}, max |diff| ${r.deviation.maxAbsDiff.toExponential(3)}, ${r.deviation.inheritedRows} of ${r.deviation.rows} rows inherited`);
      }
      return 0;
    }
    case 'train': {
      const args = parseArgs(argv.slice(1), TRAIN_VALUED, TRAIN_SWITCHES);
      const r = await runTrain(args, stderr);
      stdout(JSON.stringify({ ...r.summary, out: r.out }));
      return 0;
    }
    case 'make-model': {
      const args = parseArgs(argv.slice(1), new Set(['out']), new Set());
      if (args.command !== undefined) throw new UsageError(`unexpected argument "${args.command}"`);
      return makeModels(stringFlag(args, 'out'));
    }
    default:
      throw new UsageError(`unknown command "${argv[0]}"`);
  }
}

/** Runs the command line; returns the process exit code. */
export async function main(
  argv: readonly string[],
  io: { stdout: (s: string) => void; stderr: (s: string) => void } = {
    stdout: (s) => process.stdout.write(`${s}\n`),
    stderr: (s) => process.stderr.write(`${s}\n`),
  },
): Promise<number> {
  try {
    return await dispatchCommand(argv, io.stdout, io.stderr);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`hmi: ${e.message}\nRun "hmi --help" for usage.`);
      return 2;
    }
    io.stderr(e instanceof HmiError ? `hmi: ${e.name}: ${e.message}` : `hmi: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}
