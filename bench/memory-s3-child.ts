/**
 * Runs the in-memory S3 emulator in its own process, so that its work is never on the event loop of the
 * client being measured. The parent sends `{ buckets, latencyMs, model? }` and receives `{ port }`; then it may
 * send seed requests (`{ seed: { id, bucket, keys, size? | text?, contentType } }`, answered with
 * `{ seeded: id }`) and ask what the model did (`{ counters: id }`, answered with `{ countersOf: id, counters }`).
 * The process exits when the parent disconnects.
 */
import { randomBytes } from 'node:crypto';
import { startMemoryS3, type MemoryS3Handle, type S3Model } from './memory-s3';

interface SeedRequest {
  readonly id: number;
  readonly bucket: string;
  readonly keys: string[];
  /** Random bytes of this size, one body shared by every key. */
  readonly size?: number;
  /** Or this text. */
  readonly text?: string;
  readonly contentType?: string;
}

let handle: MemoryS3Handle | undefined;

process.on(
  'message',
  (message: { buckets?: string[]; latencyMs?: number; model?: S3Model; seed?: SeedRequest; counters?: number }) => {
    void (async () => {
      if (message.counters !== undefined && handle) {
        process.send?.({ countersOf: message.counters, counters: handle.store.counters });
        return;
      }
      if (message.buckets) {
        handle = await startMemoryS3(message.buckets, { latencyMs: message.latencyMs ?? 0, model: message.model });
        process.send?.({ port: handle.port });
        return;
      }
      if (message.seed && handle) {
        const s = message.seed;
        handle.store.seed(
          s.bucket,
          s.keys,
          s.text !== undefined ? Buffer.from(s.text, 'utf8') : randomBytes(s.size ?? 0),
          s.contentType,
        );
        process.send?.({ seeded: s.id });
      }
    })();
  },
);
process.on('disconnect', () => process.exit(0));
