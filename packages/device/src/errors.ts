/**
 * One error class for the whole stack, with codes modelled on CUDA's `cudaError_t` (and AscendCL's `aclError`, which
 * covers the same ground). Every message says what was wrong and what to do about it.
 */

/** Error codes. Names follow CUDA (`cudaErrorInvalidValue` → `InvalidValue`); `cuda` is the matching numeric code. */
export const ErrorCodes = {
  InvalidValue: { cuda: 1, acl: 100000 },
  OutOfMemory: { cuda: 2, acl: 207001 },
  InvalidDevice: { cuda: 101, acl: 107001 },
  InvalidConfiguration: { cuda: 9, acl: 100000 },
  InvalidResourceHandle: { cuda: 400, acl: 107002 },
  NotReady: { cuda: 600, acl: 107010 },
  IllegalAddress: { cuda: 700, acl: 507015 },
  LaunchFailure: { cuda: 719, acl: 507015 },
  Unsupported: { cuda: 801, acl: 200006 },
  NotInitialized: { cuda: 3, acl: 100002 },
  NoBackend: { cuda: 100, acl: 100002 },
  Timeout: { cuda: 909, acl: 507046 },
  PeerUnreachable: { cuda: 217, acl: 507033 },
  /** A kernel the compiler cannot compile (cudaErrorInvalidSource, as NVRTC reports a bad kernel source). */
  CompileError: { cuda: 300, acl: 100000 },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** Errors that leave the device unusable until `device.reset()`, as a fault inside a CUDA kernel does. */
export const STICKY_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['IllegalAddress', 'LaunchFailure']);

export interface TesseraErrorDetails {
  /** Device ordinal or id the error concerns, when there is one. */
  device?: string;
  /** What the caller can do about it; appended to the message. */
  hint?: string;
  /** Extra machine-readable facts (requested bytes, kernel name, program id, …). */
  [key: string]: unknown;
}

export class TesseraError extends Error {
  override readonly name = 'TesseraError';
  readonly code: ErrorCode;
  readonly details: TesseraErrorDetails;

  constructor(code: ErrorCode, message: string, details: TesseraErrorDetails = {}) {
    super(details.hint ? `${message} ${details.hint}` : message);
    this.code = code;
    this.details = details;
  }

  /** CUDA's numeric code for this error (`cudaErrorInvalidValue` = 1, …). */
  get cudaCode(): number {
    return ErrorCodes[this.code].cuda;
  }

  /** AscendCL's numeric code for this error (ACL_ERROR_INVALID_PARAM = 100000, …). */
  get aclCode(): number {
    return ErrorCodes[this.code].acl;
  }

  /** True for faults that make the device unusable until it is reset. */
  get sticky(): boolean {
    return STICKY_CODES.has(this.code);
  }
}

export function isTesseraError(e: unknown, code?: ErrorCode): e is TesseraError {
  return e instanceof TesseraError && (code === undefined || e.code === code);
}

/** Formats a byte count for messages: `1.50 GiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(2)} ${units[u]}`;
}

/** The error a kernel's `throw new RangeError(…)` names, rebuilt for the fault's `cause` (unknown names: an Error). */
export function errorOfName(name: string, message: string): Error {
  const ctor = (globalThis as Record<string, unknown>)[name];
  if (typeof ctor === 'function' && (ctor === Error || ctor.prototype instanceof Error)) {
    return new (ctor as ErrorConstructor)(message);
  }
  const e = new Error(message);
  e.name = name;
  return e;
}
