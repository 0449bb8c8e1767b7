/**
 * One copy-stage worker in its own thread: a warm Lambda container of the copy function. It takes one
 * `copy-batch` message at a time, as an invocation would, and sends back the messages the stage publishes
 * (a batch re-queued when time runs short) for the parent to deliver.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PipelineMessage } from '../lambdas/shared/domain/messages';
import { buildCopyStage, sns, type CopyStageSetup } from './copy-stage';

const port = parentPort;
if (!port) throw new Error('copy-worker runs as a worker thread');
const stage = buildCopyStage(workerData as CopyStageSetup, {
  publish: async (_target, message) => port.postMessage({ publish: message }),
});

port.on('message', (m: { id: number; message: PipelineMessage } | 'stop') => {
  if (m === 'stop') {
    stage.destroy();
    port.close();
    return;
  }
  stage.handler(sns(m.message)).then(
    () => port.postMessage({ done: m.id }),
    (e: unknown) => port.postMessage({ done: m.id, error: (e as Error)?.stack ?? String(e) }),
  );
});
