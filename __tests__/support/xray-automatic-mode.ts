/**
 * Imported first by a test file that exercises active tracing: the X-Ray SDK reads its mode when it loads, and
 * the Jest setup (powertools-env) puts it in manual mode, which has no trace context to carry a segment. This
 * gives that file the automatic mode a deployed function runs in.
 */
delete process.env.AWS_XRAY_MANUAL_MODE;
