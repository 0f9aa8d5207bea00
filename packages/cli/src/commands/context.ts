/** What every command's wiring gets from the program (program.ts builds it once per `createProgram`). */
import type { Backends } from '../backends';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface ProgramContext {
  io: Io;
  /** This program's backend instances (loaded in the preAction hook, before any action runs). */
  backends: Backends;
  /** Writes a Chrome/Perfetto trace to the file `--trace` names, when it names one and there is a trace. */
  writeTrace: (trace: object | undefined) => void;
}
