/**
 * projectDisaggregated: prefill and decode instances on their own ranks, the KV hand-over costed by the communicator
 * over the links between them. Modelled quantities against each other only.
 */
import { kvCacheBytesPerToken, loadShippedModel } from '@tessera/models';
import { describe, expect, test } from 'vitest';
import { projectDisaggregated } from '../../src/project/disaggregate';

const SLOW = 300_000;
const arch = loadShippedModel('llama-3.1-8b');
const base = { arch, inputLen: 1024, outputLen: 128 };

describe('projectDisaggregated', () => {
  test(
    'TTFT is the prefill step plus the KV hand-over of its prompts, which crosses the network more slowly than NVLink; the ratio maximises tokens/s per chip',
    async () => {
      const nvlink = await projectDisaggregated({
        ...base,
        topology: 'dgx-h100',
        prefill: { tp: 4, batch: 2 },
        decode: { tp: 4, batch: 16 },
      });
      expect(nvlink.kvTransfer.bytes).toBe(2 * 1024 * kvCacheBytesPerToken(arch, 'bf16'));
      expect(nvlink.ttftMs).toBeCloseTo(nvlink.prefill.ms + nvlink.kvTransfer.ms, 12);
      expect(nvlink.tpotMs).toBe(nvlink.decode.ms);
      expect(nvlink.kvTransfer.ms).toBeGreaterThan(0);
      // Prefill on node 0, decode on node 1: the same bytes per flow over InfiniBand instead of NVLink.
      const network = await projectDisaggregated({
        ...base,
        topology: 'dgx-h100x2',
        prefill: { tp: 8, batch: 4 },
        decode: { tp: 8, batch: 16 },
      });
      const perFlowRate = (r: typeof nvlink) => r.kvTransfer.bytes / r.kvTransfer.flows / r.kvTransfer.ms;
      expect(network.kvTransfer.bytes / network.kvTransfer.flows).toBe(
        nvlink.kvTransfer.bytes / nvlink.kvTransfer.flows,
      );
      expect(perFlowRate(network)).toBeLessThan(perFlowRate(nvlink));
      // The chosen ratio beats every other ratio up to 16:16, from the same instance rates.
      const r = nvlink;
      const perChip = (x: number, y: number) =>
        (Math.min(x * r.prefillRequestsPerSecond, y * r.decodeRequestsPerSecond) * base.outputLen) / (4 * x + 4 * y);
      for (let x = 1; x <= 16; x++)
        for (let y = 1; y <= 16; y++) expect(perChip(x, y)).toBeLessThanOrEqual(r.tokensPerSecondPerChip * (1 + 1e-9));
      expect(r.devices).toBe(4 * r.ratio.prefill + 4 * r.ratio.decode);
      // A given ratio is kept.
      const fixed = await projectDisaggregated({
        ...base,
        topology: 'dgx-h100',
        prefill: { tp: 4, batch: 2 },
        decode: { tp: 4, batch: 16 },
        ratio: { prefill: 1, decode: 3 },
      });
      expect(fixed.devices).toBe(16);
      expect(fixed.tokensPerSecondPerChip).toBeCloseTo(perChip(1, 3), 9);
    },
    SLOW,
  );

  test('instances that do not fit the topology side by side are a typed error', async () => {
    await expect(
      projectDisaggregated({
        ...base,
        topology: 'dgx-h100',
        prefill: { tp: 8, batch: 1 },
        decode: { tp: 8, batch: 8 },
      }),
    ).rejects.toMatchObject({ param: 'topology' });
    await expect(
      projectDisaggregated({
        ...base,
        outputLen: 0,
        topology: 'dgx-h100',
        prefill: { tp: 1, batch: 1 },
        decode: { tp: 1, batch: 8 },
      }),
    ).rejects.toMatchObject({ param: 'outputLen' });
  });
});
