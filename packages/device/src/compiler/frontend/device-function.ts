/** The marker `deviceFunction(…)` puts on a function: the names it uses from outside, and where it was defined. */
export const DEVICE_FUNCTION = Symbol.for('tessera.deviceFunction');

export interface DeviceFunctionInfo {
  name: string;
  uses: Readonly<Record<string, unknown>>;
  site: { file: string; line: number } | null;
}

export function deviceFunctionInfo(f: unknown): DeviceFunctionInfo | undefined {
  return typeof f === 'function' ? (f as unknown as Record<symbol, DeviceFunctionInfo>)[DEVICE_FUNCTION] : undefined;
}
