/**
 * Kernel source: the text of a kernel body (or device function) as the JavaScript engine holds it
 * (`Function.prototype.toString`), parsed with acorn, and the way back to a line of the file it was written in.
 *
 * What runs is what is compiled: the text is the transpiled JavaScript (types stripped, sometimes whitespace
 * minified by tsx), so positions in it are not the author's lines. The definition site — file and line of the
 * `tileKernel(...)` call, from a stack trace (source-mapped by tsx and vitest) — anchors the search: an error names
 * the first line at or after the definition whose text contains the offending snippet (whitespace ignored).
 */
import { type Node, parse } from 'acorn';

export interface DefinitionSite {
  file: string;
  line: number;
}

export interface ParsedSource {
  /** The function's text. */
  text: string;
  /** The function node (ArrowFunctionExpression, FunctionExpression or FunctionDeclaration). */
  fn: FunctionNode;
  site: DefinitionSite | null;
  /** The name kernels and errors use for it. */
  name: string;
}

// biome-ignore lint/suspicious/noExplicitAny: ESTree nodes are walked dynamically.
export type AnyNode = Node & Record<string, any>;
export type FunctionNode = AnyNode & { params: AnyNode[]; body: AnyNode; generator?: boolean; async?: boolean };

// biome-ignore lint/complexity/noBannedTypes: any JavaScript function value (kernels, device functions, natives)
const cache = new WeakMap<Function, ParsedSource>();

/** The file and line that called the kernel-definition API (the first frame outside Tessera's own definition code). */
export function captureSite(): DefinitionSite | null {
  const stack = new Error().stack;
  if (!stack) return null;
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^()\s]+?):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (!m) continue;
    const file = m[1]!.replace(/^file:\/\//, '');
    if (/[\\/]device[\\/](src|dist)[\\/](kernel[\\/]kernel|compiler[\\/])/.test(file)) continue;
    if (/[\\/]device[\\/]dist[\\/]/.test(file) || file.startsWith('node:') || file.includes('node_modules')) continue;
    return { file: decodeURIComponent(file), line: Number(m[2]) };
  }
  return null;
}

/** Parses `fn`'s source once (cached per function object). */
// biome-ignore lint/complexity/noBannedTypes: any JavaScript function value (kernels, device functions, natives)
export function parseFunction(fn: Function, name: string, site: DefinitionSite | null): ParsedSource {
  const hit = cache.get(fn);
  if (hit) return hit;
  const text = fn.toString();
  let fnNode: FunctionNode | null = null;
  for (const wrapped of [`(${text})`, `({${text}})`]) {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: acorn's ESTree typing is loose.
      const program = parse(wrapped, { ecmaVersion: 'latest', sourceType: 'module' }) as any;
      const expr = program.body[0]?.expression;
      if (!expr) continue;
      if (expr.type === 'ArrowFunctionExpression' || expr.type === 'FunctionExpression') fnNode = expr;
      else if (expr.type === 'ObjectExpression' && expr.properties[0]?.value?.type === 'FunctionExpression') {
        // A method shorthand: `name(a, b) { … }`.
        fnNode = expr.properties[0].value;
      }
      if (fnNode) {
        shiftPositions(fnNode, wrapped.indexOf(text));
        break;
      }
    } catch {
      // try the next wrapping
    }
  }
  if (!fnNode) {
    throw new Error(`cannot parse the source of '${name}': ${text.slice(0, 120)}`);
  }
  const parsed: ParsedSource = { text, fn: fnNode, site, name };
  cache.set(fn, parsed);
  return parsed;
}

/** Makes node offsets relative to the function's own text. */
function shiftPositions(node: AnyNode, by: number): void {
  const seen = new Set<unknown>();
  const visit = (n: unknown) => {
    if (!n || typeof n !== 'object' || seen.has(n)) return;
    seen.add(n);
    if (Array.isArray(n)) {
      for (const c of n) visit(c);
      return;
    }
    const o = n as AnyNode;
    if (typeof o.type === 'string' && typeof o.start === 'number') {
      o.start -= by;
      o.end -= by;
    }
    for (const k of Object.keys(o)) if (k !== 'loc') visit(o[k]);
  };
  visit(node);
}

/** The text of `node`, on one line, shortened for messages. */
export function snippetOf(src: ParsedSource, node: AnyNode): string {
  const raw = src.text.slice(node.start, node.end).replace(/\s+/g, ' ').trim();
  return raw.length > 90 ? `${raw.slice(0, 87)}…` : raw;
}

const fileLines = new Map<string, string[] | null>();

function readLines(file: string): string[] | null {
  if (fileLines.has(file)) return fileLines.get(file)!;
  let lines: string[] | null = null;
  try {
    // Node only, and only for messages: the browser build has no files to read and names the snippet alone.
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const fs = proc?.getBuiltinModule?.('fs') as { readFileSync(p: string, e: string): string } | undefined;
    if (fs) lines = fs.readFileSync(file, 'utf8').split('\n');
  } catch {
    lines = null;
  }
  fileLines.set(file, lines);
  return lines;
}

/**
 * The author's line of `node`: its text's occurrence in the file after the definition — the same occurrence (first,
 * second, …) as in the function's text, so a short snippet such as a variable name lands on the right line. Text is
 * compared without whitespace and without `!` (TypeScript's non-null assertions, `s![i]`, are gone from the
 * transpiled source the function's text comes from).
 */
export function lineOf(src: ParsedSource, node: AnyNode): { file: string; line: number } | null {
  if (!src.site) return null;
  const lines = readLines(src.site.file);
  if (!lines) return null;
  const probe = squash(src.text.slice(node.start, node.end)).slice(0, 40);
  if (!probe) return null;
  const before = squash(src.text.slice(0, node.start));
  let occurrence = 0;
  for (let i = before.indexOf(probe); i >= 0; i = before.indexOf(probe, i + 1)) occurrence++;
  // The file from the definition on, whitespace removed, with the line each character came from.
  let text = '';
  const lineAt: number[] = [];
  for (let i = Math.max(0, src.site.line - 1); i < lines.length && i < src.site.line + 5000; i++) {
    const l = squash(lines[i]!);
    text += l;
    for (let k = 0; k < l.length; k++) lineAt.push(i + 1);
  }
  // Start where the function itself starts (the definition's line also holds its name and parameter specs).
  const head = squash(src.text).slice(0, 24);
  const fnAt = Math.max(0, text.indexOf(head));
  let at = text.indexOf(probe, fnAt);
  for (let k = 0; k < occurrence && at >= 0; k++) at = text.indexOf(probe, at + 1);
  if (at < 0) at = text.indexOf(probe, fnAt);
  return { file: src.site.file, line: at >= 0 ? lineAt[at]! : src.site.line };
}

function squash(text: string): string {
  return text.replace(/[\s!]+/g, '');
}

/** "gemm.ts:61" style, shortened to the last two path segments. */
export function shortFile(file: string): string {
  const parts = file.split(/[\\/]/);
  return parts.slice(-2).join('/');
}
