/**
 * `tessera project --trace FILE`: the projected step's timeline (`@tessera/serve`'s projectionTrace) as Chrome / Perfetto
 * trace JSON — one process per rank, a compute and a communication thread each. With `--compare`, one file per system
 * that runs the step: the system id goes before the extension (step.json → step.dgx-h100.json).
 */
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { projectionTrace } from '@tessera/serve';
import type { ProjectOutcome, ProjectResult } from './project';

/** FILE for one system; with several, the system id inserted before FILE's extension (or appended when it has none). */
export function traceFileFor(file: string, system: string, perSystem: boolean): string {
  if (!perSystem) return file;
  const ext = extname(file);
  return ext ? `${file.slice(0, -ext.length)}.${system}${ext}` : `${file}.${system}`;
}

/** The trace of one projected step, with the run's parameters in its metadata. */
export function projectResultTrace(r: ProjectResult): object {
  if (!r.projection) throw new Error(`${r.system}: the result carries no projection to trace.`);
  return projectionTrace(r.projection, {
    model: r.model,
    system: r.system,
    device: r.device,
    tp: r.tp,
    ep: r.ep,
    batch: r.batch,
    contextLen: r.contextLen,
    phase: r.phase,
    weightDtype: r.weightDtype,
    kvDtype: r.kvDtype,
  });
}

/** Writes the trace of every system that ran the step; returns the paths written, in order. */
export function writeProjectTraces(outcomes: readonly ProjectOutcome[], file: string, perSystem: boolean): string[] {
  const written: string[] = [];
  for (const r of outcomes) {
    if (!r.ok) continue;
    const path = traceFileFor(file, r.system, perSystem);
    writeFileSync(path, JSON.stringify(projectResultTrace(r)));
    written.push(path);
  }
  return written;
}
