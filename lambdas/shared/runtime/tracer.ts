/**
 * X-Ray tracing of a function (Powertools Tracer): one tracer per container, and the SDK clients wrapped so
 * each AWS call is a subsegment of the invocation's trace. Tracing is on when the function runs in Lambda
 * with active tracing; POWERTOOLS_TRACE_ENABLED=false turns it off.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';

export type { Tracer } from '@aws-lambda-powertools/tracer';

/** The tracer of a stage function, its service name the stage's. */
export function createTracer(serviceName: string): Tracer {
  return new Tracer({ serviceName });
}
