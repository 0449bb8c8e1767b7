import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { deliveryLines, summarizeDelivery } from '../../scripts/delivery-summary';

const PREFIX = 'lake/orders/2026-05-15';
const KEYS = [
  `${PREFIX}/_SUCCESS`,
  `${PREFIX}/_export/export_info_x1.json`,
  `${PREFIX}/_manifest.json`,
  `${PREFIX}/orders/public.orders/1/part-00000.gz.parquet`,
];

describe('Script: simulate', () => {
  describe('Function: summarizeDelivery', () => {
    it('counts the copied objects apart from the manifest and _SUCCESS, which it names in the order they are written', () => {
      expect(summarizeDelivery(PREFIX, KEYS)).toEqual({
        copied: [`${PREFIX}/_export/export_info_x1.json`, `${PREFIX}/orders/public.orders/1/part-00000.gz.parquet`],
        written: [`${PREFIX}/_manifest.json`, `${PREFIX}/_SUCCESS`],
      });
    });
  });

  describe('Function: deliveryLines', () => {
    it('says one object count, the one the run records', () => {
      const lines = deliveryLines('s3://lake', PREFIX, summarizeDelivery(PREFIX, KEYS), {
        objectsCopied: 2,
        bytesCopied: 10,
      });
      expect(lines[0]).toBe(`Delivered 2 objects to s3://lake/${PREFIX}/ (10 bytes copied):`);
      expect(lines.filter((l) => /\d+ objects/.test(l))).toHaveLength(1);
      expect(lines.some((l) => l.startsWith('MISMATCH'))).toBe(false);
    });

    it('says so when the destination and the run disagree', () => {
      const lines = deliveryLines('s3://lake', PREFIX, summarizeDelivery(PREFIX, KEYS), { objectsCopied: 3 });
      expect(lines.at(-1)).toBe('MISMATCH: the run records 3 copied objects, the destination holds 2');
    });
  });

  it('prints the same object count as the alert of the run it narrates', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts'], {
      cwd: `${__dirname}/../..`,
      timeout: 120_000,
    });
    const counts = [...stdout.matchAll(/Delivered (\d+) objects/g)].map((m) => Number(m[1]));
    const alerted = [...stdout.matchAll(/^\s*Objects: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(counts).toHaveLength(1);
    expect(alerted).toEqual(counts);
    expect(stdout).not.toContain('MISMATCH');
  });
});
