/**
 * `tessera project`: one engine step of a shipped model (`@tessera/models`) on a built-in topology, costed by
 * `@tessera/serve`'s `projectStep` (timing-only: the kernels' and the communicator's models, nothing computed), with
 * throughput per chip, per system and per kW from `@tessera/cluster`'s `systemPower`. `--compare` runs the same step on
 * several systems side by side; a system the model does not fit says so in one line instead of failing the run.
 */
import { BUILTIN_TOPOLOGIES, resolveTopology, type SystemPowerReport, systemPower } from '@tessera/cluster';
import { TesseraError } from '@tessera/device';
import { loadShippedModel, type ModelArchitecture, SHIPPED_MODELS, type ShippedModelId } from '@tessera/models';
import {
  CapacityError,
  type ProjectedKvDtype,
  type ProjectedWeightDtype,
  ProjectionError,
  projectStep,
  type SpeculativeOptions,
  type StepProjection,
  type SweepStepFigures,
} from '@tessera/serve';
import { parsePositiveInt, table } from '../format';

export interface ProjectArgs {
  model: string;
  system?: string;
  compare?: string;
  tp?: string;
  ep?: string;
  dp?: string;
  pp?: string;
  /** Speculative decoding: draft tokens per step, and their acceptance rate. */
  spec?: string;
  acceptance: string;
  tbo?: boolean;
  pue?: string;
  batch: string;
  context: string;
  weights: string;
  kv: string;
  phase: string;
}

export interface ProjectOptions {
  model: ShippedModelId;
  systems: string[];
  /** Undefined: the smallest power-of-two TP that fits each system. */
  tp?: number;
  ep?: number;
  /** Attention data parallelism (MoE), pipeline stages. Default 1. */
  dp?: number;
  pp?: number;
  speculative?: SpeculativeOptions;
  twoBatchOverlap?: boolean;
  /** Facility power ÷ IT power for the per-MW-provisioned figure (default 1). */
  pue?: number;
  batch: number;
  contextLen: number;
  weightDtype: ProjectedWeightDtype;
  kvDtype: ProjectedKvDtype;
  phase: 'decode' | 'prefill';
}

/** One system's projection: every figure the table prints. */
export interface ProjectResult {
  ok: true;
  model: string;
  system: string;
  device: string;
  tp: number;
  ep: number;
  dp: number;
  pp: number;
  /** How the TP degree was chosen. */
  tpChoice: string;
  /** The deployment: pp · dp · tp. */
  devices: number;
  /** Speculative decoding: expected tokens per sequence and step (1 without). */
  tokensPerSequenceStep: number;
  batch: number;
  contextLen: number;
  phase: 'decode' | 'prefill';
  weightDtype: ProjectedWeightDtype;
  kvDtype: ProjectedKvDtype;
  stepMs: number;
  /** Time per output token (decode: the step); null for prefill. */
  tpotMs: number | null;
  tokensPerStep: number;
  /** The deployment's (one TP group's) tokens/s. */
  tokensPerSecond: number;
  tokensPerSecondPerChip: number;
  devicesPerSystem: number;
  /** A full system running devicesPerSystem / tp copies of the deployment: per chip × devicesPerSystem. */
  tokensPerSecondPerSystem: number;
  /** tokens/s over the deployment's power: its devices plus the overhead of every system it occupies (systemPower). */
  tokensPerSecondPerKW: number;
  /** tokens/s per chip over one device's all-in share of a full system (a system filled with copies). */
  tokensPerSecondPerKWFullSystem: number;
  /**
   * tokens/s per MW provisioned: the full-system figure over the facility's power, i.e. IT power × PUE (SemiAnalysis'
   * InferenceMAX reports tokens/s per all-in provisioned MW). `pue` is --pue (default 1: IT power only).
   */
  tokensPerSecondPerMWProvisioned: number;
  pue: number;
  power: {
    totalKW: number;
    acceleratorsKW: number;
    overheadKW: number;
    systems: number;
    perDeviceAllInKW: number;
    perSystemKW: number;
    quality: string;
  };
  memory: StepProjection['memory'];
  criticalRank: number;
  critical: { kernelsMs: number; collectivesMs: number; idleMs: number };
  ranks: Array<{ rank: number; kernelsMs: number; collectivesMs: number; idleMs: number }>;
  assumptions: string[];
  /** The step itself, for --trace (projectionTrace): non-enumerable, so --json leaves its per-op timeline out. */
  readonly projection?: StepProjection;
}

/** A system the model does not fit (or cannot be projected on): the reason in one line. */
export interface ProjectFailure {
  ok: false;
  model: string;
  system: string;
  tp: number | null;
  error: string;
  /** Bytes missing per device at that TP (CapacityError), else null. */
  shortfallBytes: number | null;
  memory: StepProjection['memory'] | null;
}

export type ProjectOutcome = ProjectResult | ProjectFailure;

const WEIGHTS = ['bf16', 'f16', 'int8', 'fp8'] as const;
const KVS = ['bf16', 'f16', 'fp8'] as const;
const modelIds = () => SHIPPED_MODELS.map((m) => m.id).join(', ');
const systemIds = () => Object.keys(BUILTIN_TOPOLOGIES).join(', ');

const parsePue = (v: string) => {
  const x = Number(v);
  if (!(Number.isFinite(x) && x >= 1 && x <= 3))
    throw new TesseraError('InvalidValue', `--pue ${v}: facility ÷ IT power, between 1 and 3 (e.g. 1.2).`);
  return x;
};

/** Validates the command line; unknown models and systems fail with the list of valid ids. */
export function parseProjectArgs(a: ProjectArgs): ProjectOptions {
  if (!SHIPPED_MODELS.some((m) => m.id === a.model))
    throw new TesseraError('InvalidValue', `Unknown model '${a.model}'; one of: ${modelIds()}.`);
  const systems = a.compare
    ? a.compare
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : a.system
      ? [a.system]
      : [];
  if (systems.length === 0)
    throw new TesseraError('InvalidValue', `Give --system <id> or --compare a,b (${systemIds()}).`);
  for (const s of systems) {
    try {
      resolveTopology(s);
    } catch (e) {
      // A topology file that does not load says why; an unknown name lists the built-in ones.
      if (/\.(json|ya?ml)$/i.test(s)) throw e;
      throw new TesseraError(
        'InvalidValue',
        `Unknown system '${s}'; one of: ${systemIds()} (or one of them xN, e.g. dgx-h100x4, or a topology file .json/.yaml).`,
      );
    }
  }
  if (!(WEIGHTS as readonly string[]).includes(a.weights))
    throw new TesseraError('InvalidValue', `--weights ${a.weights}: one of ${WEIGHTS.join(', ')}.`);
  if (!(KVS as readonly string[]).includes(a.kv))
    throw new TesseraError('InvalidValue', `--kv ${a.kv}: one of ${KVS.join(', ')}.`);
  if (a.phase !== 'decode' && a.phase !== 'prefill')
    throw new TesseraError('InvalidValue', `--phase ${a.phase}: decode or prefill.`);
  let speculative: SpeculativeOptions | undefined;
  if (a.spec !== undefined) {
    const acceptance = Number(a.acceptance);
    if (!(acceptance >= 0 && acceptance < 1))
      throw new TesseraError('InvalidValue', `--acceptance ${a.acceptance}: a probability in [0, 1), e.g. 0.7.`);
    speculative = { tokens: parsePositiveInt(a.spec, '--spec'), acceptance };
  }
  return {
    model: a.model as ShippedModelId,
    systems,
    tp: a.tp === undefined ? undefined : parsePositiveInt(a.tp, '--tp'),
    ep: a.ep === undefined ? undefined : parsePositiveInt(a.ep, '--ep'),
    dp: a.dp === undefined ? undefined : parsePositiveInt(a.dp, '--dp'),
    pp: a.pp === undefined ? undefined : parsePositiveInt(a.pp, '--pp'),
    speculative,
    twoBatchOverlap: a.tbo === true ? true : undefined,
    pue: a.pue === undefined ? undefined : parsePue(a.pue),
    batch: parsePositiveInt(a.batch, '--batch'),
    contextLen: parsePositiveInt(a.context, '--context'),
    weightDtype: a.weights as ProjectedWeightDtype,
    kvDtype: a.kv as ProjectedKvDtype,
    phase: a.phase,
  };
}

export const systemSize = (system: string) => {
  const s = resolveTopology(system);
  return s.nodes * s.devicesPerNode;
};

/** 1, 2, 4, … up to `size`. */
const powersOfTwo = (size: number) => {
  const out: number[] = [];
  for (let t = 1; t <= size; t *= 2) out.push(t);
  return out;
};

/** Projects `o.model` on one system, choosing the TP degree when `o.tp` is undefined. */
export async function projectOn(o: ProjectOptions, system: string): Promise<ProjectOutcome> {
  const arch = loadShippedModel(o.model);
  const size = systemSize(system);
  const attempt = (tp: number) =>
    projectStep({
      arch,
      topology: system,
      tp,
      ep: o.ep,
      dp: o.dp,
      pp: o.pp,
      speculative: o.speculative,
      twoBatchOverlap: o.twoBatchOverlap,
      batch: o.batch,
      contextLen: o.contextLen,
      weightDtype: o.weightDtype,
      kvDtype: o.kvDtype,
      phase: o.phase,
    });
  const failure = (tp: number | null, e: unknown, prefix = ''): ProjectFailure => ({
    ok: false,
    model: o.model,
    system,
    tp,
    error: prefix + (e as Error).message,
    shortfallBytes: e instanceof CapacityError ? e.shortfall : null,
    memory: e instanceof CapacityError ? e.memory : null,
  });

  // Devices per TP degree: the DP groups and pipeline stages multiply it.
  const others = (o.dp ?? 1) * (o.pp ?? 1);
  const deployment = (t: number) => `TP ${t}${o.dp ? ` × DP ${o.dp}` : ''}${o.pp ? ` × PP ${o.pp}` : ''}`;
  let p: StepProjection | undefined;
  let tp = 0;
  let tpChoice: string;
  if (o.tp !== undefined) {
    tp = o.tp;
    tpChoice = 'given (--tp)';
    if (tp * others > size)
      return failure(tp, new Error(`${deployment(tp)} = ${tp * others} devices exceed the ${size} of ${system}.`));
    try {
      p = await attempt(tp);
    } catch (e) {
      if (e instanceof CapacityError || e instanceof ProjectionError) return failure(tp, e, `at TP ${tp}: `);
      throw e;
    }
  } else {
    // The smallest power of two up to the system's size at which the step fits (and the model splits).
    let lastCapacity: { tp: number; e: CapacityError } | null = null;
    let lastOther: { tp: number; e: unknown } | null = null;
    const tried = powersOfTwo(Math.floor(size / others));
    for (const t of tried) {
      try {
        p = await attempt(t);
        tp = t;
        break;
      } catch (e) {
        if (e instanceof CapacityError) lastCapacity = { tp: t, e };
        else if (e instanceof ProjectionError) lastOther = { tp: t, e };
        else throw e;
      }
    }
    if (!p) {
      const upTo = `at any TP in {${tried.join(', ')}}`;
      if (lastCapacity)
        return failure(
          lastCapacity.tp,
          lastCapacity.e,
          `fits at no TP in {${tried.join(', ')}}; at TP ${lastCapacity.tp}: `,
        );
      return failure(lastOther?.tp ?? null, lastOther?.e ?? new Error('no TP degree to try'), `cannot run ${upTo}: `);
    }
    tpChoice = `auto: the smallest power of two up to ${Math.floor(size / others)} that fits`;
  }
  return projectResult(o, system, arch, tp, tpChoice, p);
}

/**
 * A projected step's figures on `system` at TP `tp` (the step in-process, or a sweep's outcome): throughput per chip,
 * per system and per kW (systemPower), memory and the critical rank. projectOn and the --slo-tpot search share it.
 */
export async function projectResult(
  o: ProjectOptions,
  system: string,
  arch: ModelArchitecture,
  tp: number,
  tpChoice: string,
  p: SweepStepFigures,
): Promise<ProjectResult> {
  const dp = o.dp ?? 1;
  const pp = o.pp ?? 1;
  const ep = arch.moe ? (o.ep ?? dp * tp) : 1;
  const devices = p.devices; // pp · dp · tp (EP lives inside a stage)
  const power: SystemPowerReport = await systemPower(system, devices);
  // Decode: the tokens emitted (more than one per sequence under speculative decoding); prefill: the tokens computed.
  const tokensPerSecond = (o.phase === 'decode' ? p.outputTokens : p.tokens) / (p.ms / 1e3);
  const perChip = tokensPerSecond / devices;
  const crit = p.ranks[p.criticalRank]!;
  const result: ProjectResult = {
    ok: true,
    model: o.model,
    system,
    device: power.device,
    tp,
    ep,
    dp,
    pp,
    tpChoice,
    devices,
    tokensPerSequenceStep: p.tokensPerSequenceStep,
    batch: o.batch,
    contextLen: o.contextLen,
    phase: o.phase,
    weightDtype: o.weightDtype,
    kvDtype: o.kvDtype,
    stepMs: p.ms,
    tpotMs: o.phase === 'decode' ? p.ms / p.tokensPerSequenceStep : null,
    tokensPerStep: o.phase === 'decode' ? p.outputTokens : p.tokens,
    tokensPerSecond,
    tokensPerSecondPerChip: perChip,
    devicesPerSystem: power.devicesPerSystem,
    tokensPerSecondPerSystem: perChip * power.devicesPerSystem,
    tokensPerSecondPerKW: tokensPerSecond / power.totalKW,
    tokensPerSecondPerKWFullSystem: perChip / power.perDeviceAllInKW,
    tokensPerSecondPerMWProvisioned: (1000 * perChip) / power.perDeviceAllInKW / (o.pue ?? 1),
    pue: o.pue ?? 1,
    power: {
      totalKW: power.totalKW,
      acceleratorsKW: power.acceleratorsKW,
      overheadKW: power.overheadKW,
      systems: power.systems,
      perDeviceAllInKW: power.perDeviceAllInKW,
      perSystemKW: power.perSystemKW,
      quality: power.quality,
    },
    memory: p.memory,
    criticalRank: p.criticalRank,
    critical: { kernelsMs: crit.kernelsMs, collectivesMs: crit.collectivesMs, idleMs: crit.idleMs },
    ranks: p.ranks.map((r) => ({
      rank: r.rank,
      kernelsMs: r.kernelsMs,
      collectivesMs: r.collectivesMs,
      idleMs: r.idleMs,
    })),
    assumptions: p.assumptions,
  };
  Object.defineProperty(result, 'projection', { value: p, enumerable: false });
  return result;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const num = (x: number) =>
  x >= 1000 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
const ms = (x: number) => `${x.toFixed(3)} ms`;
const pct = (part: number, whole: number) => (whole > 0 ? ` (${((100 * part) / whole).toFixed(0)} %)` : '');

/** The text report: one column per system, then failures and assumptions. */
export function formatProject(o: ProjectOptions, outcomes: ProjectOutcome[]): string {
  const lines: string[] = [];
  const tokens = o.phase === 'decode' ? `${o.batch} sequences × 1 token` : `${o.batch} sequences × ${o.contextLen}`;
  lines.push(
    `# tessera project: ${o.model}, ${o.phase} step, ${tokens}, context ${o.contextLen}, weights ${o.weightDtype}, KV ${o.kvDtype}`,
  );
  lines.push('# modelled by @tessera/serve projectStep (timing-only); power from @tessera/cluster systemPower');
  const ok = outcomes.filter((r): r is ProjectResult => r.ok);
  if (ok.length > 0) {
    const rows: Array<[string, (r: ProjectResult) => string]> = [
      ['device', (r) => r.device],
      [
        'parallelism (devices)',
        (r) =>
          `TP ${r.tp}${r.dp > 1 ? ` · DP ${r.dp}` : ''}${r.pp > 1 ? ` · PP ${r.pp}` : ''}${r.ep > 1 ? ` · EP ${r.ep}` : ''} (${r.devices})`,
      ],
      ['TP chosen', (r) => (r.tpChoice.startsWith('auto') ? 'auto' : 'given')],
      ['step time', (r) => ms(r.stepMs)],
      ...(o.phase === 'decode'
        ? ([
            [
              'TPOT',
              (r) =>
                ms(r.tpotMs!) +
                (r.tokensPerSequenceStep > 1 ? ` (${r.tokensPerSequenceStep.toFixed(2)} tokens/step)` : ''),
            ],
          ] as Array<[string, (r: ProjectResult) => string]>)
        : []),
      ['tokens / step', (r) => num(r.tokensPerStep)],
      ['tokens/s (deployment)', (r) => num(r.tokensPerSecond)],
      ['tokens/s per chip', (r) => num(r.tokensPerSecondPerChip)],
      ['tokens/s per system', (r) => `${num(r.tokensPerSecondPerSystem)} (${r.devicesPerSystem} chips)`],
      [
        'deployment power',
        (r) => `${r.power.totalKW.toFixed(1)} kW (${r.power.systems} system${r.power.systems > 1 ? 's' : ''})`,
      ],
      ['tokens/s per kW', (r) => num(r.tokensPerSecondPerKW)],
      ['tokens/s per kW, full system', (r) => num(r.tokensPerSecondPerKWFullSystem)],
      [
        'tokens/s per MW provisioned',
        (r) => `${num(r.tokensPerSecondPerMWProvisioned)} (PUE ${r.pue}${r.pue === 1 ? ': IT power only' : ''})`,
      ],
      ['power figures', (r) => r.power.quality],
      ['weights / device', (r) => gib(r.memory.weights)],
      ['KV cache / device', (r) => gib(r.memory.kvCache)],
      ['workspace / device', (r) => gib(r.memory.workspace)],
      ['total / capacity', (r) => `${gib(r.memory.total)} / ${gib(r.memory.capacity)}`],
      ['critical rank', (r) => String(r.criticalRank)],
      ['  kernels', (r) => ms(r.critical.kernelsMs) + pct(r.critical.kernelsMs, r.stepMs)],
      ['  collectives', (r) => ms(r.critical.collectivesMs) + pct(r.critical.collectivesMs, r.stepMs)],
      ['  idle', (r) => ms(r.critical.idleMs) + pct(r.critical.idleMs, r.stepMs)],
    ];
    lines.push(
      table(
        ['', ...ok.map((r) => r.system)],
        rows.map(([label, f]) => [label, ...ok.map(f)]),
      ),
    );
  }
  const choices = new Set(ok.map((r) => r.tpChoice));
  for (const c of choices)
    if (c.startsWith('auto'))
      lines.push(
        `TP: ${c} (${ok
          .filter((r) => r.tpChoice === c)
          .map((r) => r.system)
          .join(', ')}).`,
      );
  for (const f of outcomes) if (!f.ok) lines.push(`${f.system}: ${f.error}`);
  if (ok.length > 0) {
    lines.push(
      "tokens/s per system: a full system running copies of the deployment; per kW: the deployment's devices plus the overhead of every system it occupies; full system: one chip's all-in share of a full system.",
    );
    const assumptions = [...new Set(ok.flatMap((r) => r.assumptions))];
    lines.push('Assumptions:');
    for (const a of assumptions) lines.push(`  - ${a}`);
  }
  return lines.join('\n');
}

/** Runs the projection on every system in order; failures are outcomes, not errors. */
export async function projectCommand(o: ProjectOptions): Promise<ProjectOutcome[]> {
  const out: ProjectOutcome[] = [];
  for (const s of o.systems) out.push(await projectOn(o, s));
  return out;
}
