/**
 * The frame of every invocation: the Lambda context (request id, cold start) on each log line, and the
 * handler's work in an X-Ray subsegment of the function's trace. Handlers keep the `makeHandler(deps)` shape;
 * only the deployed entry point is wrapped, so tests call `makeHandler` directly.
 */
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import type { Logger } from './logger';

/** What the frame of an invocation needs from a function's deps. */
export interface InvocationDeps {
  readonly logger: Logger;
  /**
   * The function's X-Ray tracer; a function without one (the copy function, whose hot path the X-Ray SDK's
   * async hook would slow) runs its invocations untraced in-process, with Lambda's own segments only.
   */
  readonly tracer?: Tracer;
}

/** A Lambda handler as `makeHandler` builds it: the context is optional so tests may leave it out. */
export type LambdaHandler<E, R> = (event: E, context?: Context) => Promise<R>;

/**
 * The deployed entry point of a function: on first use builds its deps and its handler (`make`) once per
 * container, so importing it never needs the environment; then runs each invocation with the Lambda context on the logger and inside a traced subsegment.
 *
 * @example
 * export const handler = lambdaEntry(defaultStageDeps(StageFunction.START), makeHandler);
 */
export function lambdaEntry<D extends InvocationDeps, E, R>(
  source: () => D,
  make: (deps: () => D) => LambdaHandler<E, R>,
): LambdaHandler<E, R> {
  let deps: D | undefined;
  let handle: LambdaHandler<E, R> | undefined;
  const get = () => (deps ??= source());
  return async (event, context) => {
    const d = get();
    handle ??= make(get);
    const run = handle;
    if (context) d.logger.addContext(context);
    if (!d.tracer) return run(event, context);
    return traceHandler(d.tracer, `## ${process.env._HANDLER ?? 'handler'}`, () => run(event, context));
  };
}

/**
 * Runs `fn` in a subsegment `name` of the current trace segment (the facade segment Lambda opens when active
 * tracing is on), annotated with ColdStart and Service, with a thrown error recorded on it; without tracing,
 * just runs `fn`. What Powertools' captureLambdaHandler does, without a decorator or middleware.
 */
export async function traceHandler<R>(tracer: Tracer, name: string, fn: () => Promise<R>): Promise<R> {
  if (!tracer.isTracingEnabled()) return fn();
  const segment = tracer.getSegment();
  const subsegment = segment?.addNewSubsegment(name);
  if (subsegment) tracer.setSegment(subsegment);
  try {
    tracer.annotateColdStart();
    tracer.addServiceNameAnnotation();
    return await fn();
  } catch (e) {
    tracer.addErrorAsMetadata(e instanceof Error ? e : new Error(String(e)));
    throw e;
  } finally {
    subsegment?.close();
    if (segment) tracer.setSegment(segment);
  }
}
