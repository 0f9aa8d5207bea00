/**
 * Source → IR for one specialisation: binds the kernel's parameters (constexprs as numbers, the rest as IR values),
 * runs the stager over the body, and returns the kernel's IR before any pass.
 */
import type { Kernel } from '../kernel/kernel';
import { current } from './frontend/globals';
import { SimtLanguage } from './frontend/lang-simt';
import { TileLanguage } from './frontend/lang-tile';
import { parseFunction } from './frontend/source';
import { Stager } from './frontend/stager';
import { Scope, stamp } from './frontend/values';
import { FLOAT, INT, type IRParam, type KernelIR, Region, type Type, Value } from './ir';
import type { Specialization } from './specialize';

export function stageKernel(kernel: Kernel, spec: Specialization): KernelIR {
  const root = new Region();
  const st = new Stager(kernel.name, root);
  const saved = { ...current };
  current.b = st.b;
  current.fail = (m, h) => st.fail(m, h);
  current.native = (x) => st.nativeArg(x);
  try {
    const params: IRParam[] = [];
    const args: Record<string, unknown> = stamp({});
    for (const p of spec.params) {
      if (p.kind === 'constexpr') {
        params.push({ name: p.name, spec: p.spec, value: null, constant: p.value });
        args[p.name] = p.value;
        continue;
      }
      let type: Type;
      if (p.kind === 'buffer') type = { kind: 'buffer', dtype: p.dtype };
      else if (p.kind === 'array') type = { kind: 'array', elem: p.elem };
      else type = p.s === 'int' ? INT : FLOAT;
      const v = new Value(type, p.name);
      params.push({ name: p.name, spec: p.spec, value: v });
      args[p.name] = v;
    }
    const src = parseFunction(kernel.body, kernel.name, kernel.site);
    const uses = new Scope(null);
    for (const [k, v] of Object.entries(kernel.uses)) uses.declare(k, v, 'const');
    if (kernel.style === 'tile') {
      const lang = new TileLanguage(st);
      st.members = { valueMember: (v, key, node) => lang.valueMember(v, key, node) };
      st.stageBody(src, uses, [lang, args]);
      return { name: kernel.name, style: kernel.style, params, body: root, shared: [], key: spec.key };
    }
    const lang = new SimtLanguage(st, spec.block ?? [1, 1, 1], spec.dynamicSharedBytes, kernel.shared, spec.warpSize);
    st.members = lang;
    st.stageBody(src, uses, [lang, args]);
    const shared = [...lang.sharedByName].map(([name, value]) => ({ name, value }));
    return {
      name: kernel.name,
      style: kernel.style,
      params,
      body: root,
      shared,
      key: spec.key,
      warpSize: spec.warpSize,
    };
  } finally {
    Object.assign(current, saved);
  }
}
