/**
 * Finding the visitor's line for what went wrong. The program is evaluated with `new Function`, so nothing has a file:
 * a syntax error carries no position in V8, a runtime error has one only in its stack (offset by the lines the
 * engine wraps around the body), and the kernel compiler and the sanitizer name a snippet of source text but no line
 * (they look lines up in files, which the browser has none of). Each case is mapped back here.
 */
import { javascriptLanguage } from '@codemirror/lang-javascript';
import { isTesseraError } from '@tessera/device';
import type { IssueKind, PlaygroundIssue } from './types';

/** The names the program sees besides JavaScript's globals (parse.ts binds them to the kernel language). */
export const SCOPE_NAMES: readonly string[] = Object.freeze(['tileKernel', 'simtKernel', 'deviceFunction', 'cdiv']);

/** Prepended to every program: strict mode makes an assignment to an undeclared name an error, not a global. */
export const PRELUDE = '"use strict";\n';

/** A frame of code made by `new Function`: V8 `<anonymous>:L:C`, Firefox `> Function:L:C`, Safari `<anonymous>…`. */
const EVAL_FRAME = /(?:<anonymous>|> Function|> eval):(\d+):(\d+)/;

let lineOffset: number | null | undefined;

/**
 * Lines the engine puts before the body of a `new Function` (plus the prelude's one): measured once with a probe, as
 * engines differ (V8 adds two: `function anonymous(…` and `) {`).
 */
function evalLineOffset(params: readonly string[]): number | null {
  if (lineOffset !== undefined) return lineOffset;
  try {
    new Function(...params, `${PRELUDE}throw new Error('probe');`)();
  } catch (e) {
    const m = EVAL_FRAME.exec(String((e as Error).stack ?? ''));
    lineOffset = m ? Number(m[1]) - 1 : null;
    return lineOffset;
  }
  lineOffset = null;
  return null;
}

/** The visitor's line and column of the innermost frame of their code in `e`'s stack, when the engine gives one. */
export function stackPosition(e: unknown, params: readonly string[]): { line: number; column: number } | null {
  const stack = e instanceof Error ? String(e.stack ?? '') : '';
  const m = EVAL_FRAME.exec(stack);
  const offset = evalLineOffset(params);
  if (!m || offset === null) return null;
  const line = Number(m[1]) - offset;
  return line >= 1 ? { line, column: Number(m[2]) } : null;
}

/** 1-based line and column of character `at` in `text`. */
export function positionOf(text: string, at: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: at - lineStart + 1 };
}

/**
 * TypeScript-only syntax CodeMirror's JavaScript grammar accepts (it parses type annotations in plain JS too), but
 * `new Function` does not: where V8 rejects the program, these are as good a place to point at as an error node.
 */
const TYPESCRIPT_NODES = new Set([
  'TypeAnnotation',
  'TypeParamList',
  'TypeArgList',
  'TypeAliasDeclaration',
  'InterfaceDeclaration',
  'EnumDeclaration',
  'NamespaceDeclaration',
  'AmbientDeclaration',
  'NonNullExpression',
  'Privacy',
  // Not TypeScript, but not allowed in a function body either: the program is not a module.
  'ImportDeclaration',
  'ExportDeclaration',
]);

/**
 * Where a syntax error is: the first error node of CodeMirror's JavaScript parser (the editor's own, so the marker
 * matches what the editor highlights), or TypeScript syntax. V8's SyntaxError from `new Function` names the token but
 * not where it is.
 */
export function syntaxErrorPosition(source: string): { line: number; column: number } | null {
  const tree = javascriptLanguage.parser.parse(source);
  let at = -1;
  tree.iterate({
    enter: (node) => {
      if (at >= 0) return false;
      if (node.type.isError || TYPESCRIPT_NODES.has(node.name)) at = node.from;
      return undefined;
    },
  });
  return at >= 0 ? positionOf(source, at) : null;
}

const squash = (s: string) => s.replace(/\s+/g, '');

/**
 * The line of `snippet` (as the compiler and the sanitizer print source: whitespace collapsed, long text cut with
 * `…`) in the visitor's source, searching from the kernel's body on (`from`: its offset, -1 when unknown).
 */
export function lineOfSnippet(source: string, snippet: string | undefined, from: number): number | undefined {
  if (!snippet) return undefined;
  const probe = squash(snippet.replace(/…$/, '')).slice(0, 60);
  if (!probe) return undefined;
  let text = '';
  const lineAt: number[] = [];
  let line = 1;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === '\n') line++;
    if (i < from || /\s/.test(ch)) continue;
    text += ch;
    lineAt.push(line);
  }
  const hit = text.indexOf(probe);
  return hit >= 0 ? lineAt[hit] : undefined;
}

/** Where a kernel body starts in the source (its text is the source's own slice, as `new Function` keeps it). */
export function bodyOffset(source: string, body: unknown): number {
  if (typeof body !== 'function') return -1;
  return source.indexOf(Function.prototype.toString.call(body));
}

/** A TesseraError's message without the hint the error appends to it (the issue carries the hint separately). */
function splitHint(message: string, hint: unknown): { message: string; hint?: string } {
  if (typeof hint !== 'string' || !hint) return { message };
  const trimmed = message.endsWith(` ${hint}`) ? message.slice(0, -hint.length - 1) : message;
  // The playground resets and frees the device itself after a fault: advice to call device.reset() is not the visitor's.
  const advice = hint.replace(/\s*The device is now in an error state[^.]*?device\.reset\(\)\.?/, '').trim();
  return advice ? { message: trimmed, hint: advice } : { message: trimmed };
}

/**
 * An issue from anything thrown by the device stack or the visitor's code. Tessera errors keep their code and hint;
 * a compile error's or fault's snippet is looked up in the source for a line. `kind` is used when the error's code
 * does not say better.
 */
export function issueFrom(
  e: unknown,
  kind: IssueKind,
  where: { source: string; kernelBody?: unknown; params?: readonly string[] },
): PlaygroundIssue {
  if (isTesseraError(e)) {
    const d = e.details as { hint?: unknown; snippet?: unknown; line?: unknown };
    const k: IssueKind =
      e.code === 'CompileError'
        ? 'compile'
        : e.code === 'IllegalAddress' || e.code === 'LaunchFailure'
          ? 'fault'
          : kind;
    const from = bodyOffset(where.source, where.kernelBody);
    const snippet = typeof d.snippet === 'string' ? d.snippet : snippetIn(e.message);
    const line =
      lineOfSnippet(where.source, snippet, from) ?? (where.params ? stackPosition(e, where.params)?.line : undefined);
    return { kind: k, ...splitHint(e.message, d.hint), code: e.code, ...(line !== undefined ? { line } : {}) };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const pos = where.params ? stackPosition(err, where.params) : null;
  const label = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
  return { kind, message: `${label}${err.message}`, ...(pos ?? {}) };
}

/** Faults name the access as `… — in \`snippet\``, or with the snippet in backquotes. */
function snippetIn(message: string): string | undefined {
  const m = /`([^`]{3,})`/.exec(message);
  return m?.[1];
}
