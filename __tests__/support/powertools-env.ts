// Jest setup: Powertools as a deployed function has it, minus what needs AWS. Tracing is off (there is no
// X-Ray daemon to send to, and the tracer is told so rather than finding out), and Lambda's initialization
// type is set as Lambda sets it for on-demand functions, so cold-start flags behave as deployed.
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.AWS_LAMBDA_INITIALIZATION_TYPE ??= 'on-demand';
