// Jest setup: Powertools as a deployed function has it, minus what needs AWS. Tracing is off (there is no
// X-Ray daemon to send to, and the tracer is told so rather than finding out), and Lambda's initialization
// type is set as Lambda sets it for on-demand functions, so cold-start flags behave as deployed.
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.AWS_LAMBDA_INITIALIZATION_TYPE ??= 'on-demand';
// With tracing off, the X-Ray SDK runs in its manual mode: in its automatic mode it keeps a trace context for
// every asynchronous resource of the process (an async hook with destroy tracking on every promise), which
// made the emulator-backed tests up to twice as slow for a context nothing reads. A test of tracing itself
// imports xray-automatic-mode first.
process.env.AWS_XRAY_MANUAL_MODE ??= 'true';
