/**
 * Scalar ops of the SIMT lowering (`s.binary`, `s.unary`): JavaScript operators and Math functions as WGSL
 * expressions on i32 / f32 / bool. The arithmetic is f32 and wrapping i32 instead of float64 (simt.ts's header);
 * bitwise operators apply JavaScript's ToInt32 to float operands (`tsr_f32_toint32`), exactly.
 */
import type { Op, Value } from '../ir';
import { convert, type Kind, literal, refuse, type SimtEmitter } from './simt-context';

const BINARY_INFIX: Record<string, string> = {
  '+': '+',
  '-': '-',
  '*': '*',
  '/': '/',
  '%': '%',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  '===': '==',
  '!==': '!=',
  '&': '&',
  '|': '|',
  '^': '^',
};
const COMPARE = new Set(['<', '<=', '>', '>=', '===', '!==']);
const BITWISE = new Set(['&', '|', '^', '<<', '>>', '>>>']);

/** An operand as i32 the way JavaScript's bitwise operators see it (ToInt32). */
function int32(e: SimtEmitter, v: Value): string {
  const c = v.def?.opcode === 'const' ? v.def.attrs.value : undefined;
  if (typeof c === 'number') return literal(c | 0, 'int', e.ir); // 0xffffffff is -1 here, as in JavaScript
  if (e.kind(v) !== 'float') return e.as(v, 'int');
  e.use('i32');
  return `tsr_f32_toint32(${e.as(v, 'float')})`;
}

export function binaryExpr(e: SimtEmitter, op: Op): string {
  const [x, y] = op.operands as [Value, Value];
  const bop = op.attrs.op as string;
  const rk = e.kind(op.result);
  const kx = e.kind(x);
  const ky = e.kind(y);
  // The kind the operation is computed in.
  const ck: Kind = COMPARE.has(bop)
    ? kx === 'bool' && ky === 'bool'
      ? 'bool'
      : kx === 'float' || ky === 'float'
        ? 'float'
        : 'int'
    : bop === '&&' || bop === '||'
      ? 'bool'
      : BITWISE.has(bop) || bop === 'imul'
        ? 'int'
        : bop === '/' || bop === '**' || bop === 'atan2' || bop === 'hypot'
          ? 'float'
          : rk === 'bool'
            ? 'int'
            : rk;
  if ((bop === '&&' || bop === '||') && (kx !== 'bool' || ky !== 'bool' || rk !== 'bool'))
    refuse(e.ir, `\`${bop}\` on non-boolean operands (JavaScript returns an operand)`);
  const integer = BITWISE.has(bop) || bop === 'imul';
  const a = integer ? int32(e, x) : e.as(x, ck);
  const b = integer ? int32(e, y) : e.as(y, ck);
  let r: string;
  switch (bop) {
    case '<<':
      r = `(${a} << u32(${b}))`;
      break;
    case '>>':
      r = `(${a} >> u32(${b}))`;
      break;
    case '>>>':
      r = `bitcast<i32>(bitcast<u32>(${a}) >> u32(${b}))`;
      break;
    case '**':
      r = `pow(${a}, ${b})`;
      break;
    case 'min':
    case 'max':
      r = `${bop}(${a}, ${b})`;
      break;
    case 'imul':
      r = `(${a} * ${b})`;
      break;
    case 'atan2':
      r = `atan2(${a}, ${b})`;
      break;
    case 'hypot':
      r = `length(vec2<f32>(${a}, ${b}))`;
      break;
    default: {
      const inf = BINARY_INFIX[bop];
      if (!inf) refuse(e.ir, `the scalar operator \`${bop}\``);
      if (bop === '%' && ck === 'float') r = `(${a} - ${b} * trunc(${a} / ${b}))`;
      else r = `(${a} ${inf} ${b})`;
    }
  }
  const k: Kind = COMPARE.has(bop) ? 'bool' : ck;
  return convert(r, k, rk);
}

export function unaryExpr(e: SimtEmitter, op: Op): string {
  const x = op.operands[0]!;
  const u = op.attrs.op as string;
  const rk = e.kind(op.result);
  const xk = e.kind(x);
  const f = (): string => e.as(x, 'float');
  let r: string;
  let k: Kind = 'float';
  switch (u) {
    case '-':
      k = xk === 'int' ? 'int' : 'float';
      r = `(-${e.as(x, k)})`;
      break;
    case '+':
      k = xk === 'int' ? 'int' : 'float';
      r = e.as(x, k);
      break;
    case '!':
      k = 'bool';
      r = `(!${e.as(x, 'bool')})`;
      break;
    case '~':
      k = 'int';
      r = `(~${int32(e, x)})`;
      break;
    case 'floor':
    case 'ceil':
    case 'trunc':
    case 'sign':
    case 'abs':
      if (xk === 'int') {
        k = 'int';
        r = u === 'abs' || u === 'sign' ? `${u}(${e.as(x, 'int')})` : e.as(x, 'int');
      } else r = `${u}(${f()})`;
      break;
    case 'round': // JavaScript rounds halves up
      r = xk === 'int' ? f() : `floor(${f()} + 0.5f)`;
      break;
    case 'sqrt':
    case 'exp':
    case 'log':
    case 'log2':
    case 'sin':
    case 'cos':
    case 'tan':
    case 'tanh':
    case 'atan':
      r = `${u}(${f()})`;
      break;
    case 'cbrt':
      r = `(sign(${f()}) * pow(abs(${f()}), 1.0f / 3.0f))`;
      break;
    case 'expm1':
      r = `(exp(${f()}) - 1.0f)`;
      break;
    case 'log1p':
      r = `log(1.0f + ${f()})`;
      break;
    case 'log10':
      r = `(log2(${f()}) * 0.30102999566398120f)`;
      break;
    case 'fround':
      r = f();
      break;
    case 'isNaN':
      k = 'bool';
      r = `((bitcast<u32>(${f()}) & 0x7fffffffu) > 0x7f800000u)`;
      break;
    case 'isFinite':
      k = 'bool';
      r = `((bitcast<u32>(${f()}) & 0x7f800000u) != 0x7f800000u)`;
      break;
    case 'isInteger':
      k = 'bool';
      r = xk === 'int' ? 'true' : `(((bitcast<u32>(${f()}) & 0x7f800000u) != 0x7f800000u) && trunc(${f()}) == ${f()})`;
      break;
    default:
      refuse(e.ir, `the scalar function \`${u}\``);
  }
  return convert(r, k, rk);
}
