/**
 * One structured JSON logger per function (Powertools Logger). Handlers append the run id while they work
 * on a run, so every line of that run carries it.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export type { Logger } from '@aws-lambda-powertools/logger';

/** The logger of a stage function; the level comes from POWERTOOLS_LOG_LEVEL (default INFO). */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName });
}

/** A logger that writes nothing, for tests. */
export function silentLogger(serviceName = 'test'): Logger {
  return new Logger({ serviceName, logLevel: 'SILENT' });
}

/** Runs `fn` with `runId` appended to every log line, and removes it afterwards. */
export async function withRunId<T>(logger: Logger, runId: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (runId) logger.appendKeys({ runId });
  try {
    return await fn();
  } finally {
    if (runId) logger.removeKeys(['runId']);
  }
}
