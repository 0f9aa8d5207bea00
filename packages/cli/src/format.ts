/** Small formatting helpers for tables and sizes. */
import { TesseraError } from '@tessera/device';

/** Parses a byte count: `4096`, `4K`, `512M`, `8G`, `4GiB`, `1e9` (K/M/G/T are powers of 1024, as nccl-tests reads them). */
export function parseBytes(text: string, what = 'bytes'): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m)
    throw new TesseraError('InvalidValue', `${what}: '${text}' is not a size.`, {
      hint: 'Use a number of bytes, optionally with K, M, G or T (e.g. 4G).',
    });
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ];
  const v = Number(m[1]) * scale;
  if (!Number.isFinite(v) || v < 0 || !Number.isInteger(v)) {
    throw new TesseraError('InvalidValue', `${what}: '${text}' is not a whole number of bytes.`);
  }
  return v;
}

/** Parses a positive integer option. */
export function parsePositiveInt(text: string, what: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1)
    throw new TesseraError('InvalidValue', `${what} must be a positive integer, got '${text}'.`);
  return v;
}

export function fmtBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(0)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} B`;
}

/** Renders rows as a boxed table in the spirit of nvidia-smi / npu-smi. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line, fmt(headers), line.replace(/-/g, '='), ...rows.map(fmt), line].join('\n');
}
