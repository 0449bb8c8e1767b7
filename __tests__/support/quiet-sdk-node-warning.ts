// Jest setup: the AWS SDK warns once per process (every test file) that Node < 22 will lose support; the suite
// declares Node 22, so that one warning is switched off with the SDK's own setting. Other warnings still show.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
