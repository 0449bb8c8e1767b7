import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { Metrics } from '../../lambdas/shared/runtime/metrics';

/**
 * Pipeline metrics whose Powertools emitter prints into `lines` instead of standard output: each EMF line it
 * writes, parsed. Powertools prints through a Console it builds on process.stdout; the tests hand it one on a
 * stream of their own, so what is checked is exactly what the function would print, and the suite stays quiet.
 */
export function capturedMetrics(pipeline: string): { metrics: Metrics; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const metrics = new Metrics(pipeline);
  let pending = '';
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim()) lines.push(JSON.parse(line));
      }
      done();
    },
  });
  Object.assign(metrics.emitter, { console: new Console({ stdout: out, stderr: out }) });
  return { metrics, lines };
}
