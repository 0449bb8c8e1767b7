import { App } from 'cdktf';
import {
  ConfigError,
  configPathFrom,
  type Environment,
  environmentsFrom,
  loadConfigFile,
  SINGLE_ENVIRONMENT,
  selectEnvironments,
} from './config/load';
import { AwsLimitError } from './modules/aws-limits';
import { STAGES } from './modules/export-pipeline';
import { bundleLambdas } from './modules/lambda-bundle';
import { handlerEntry, PipelineStack } from './modules/pipeline-stack';

/**
 * Reads the configuration and builds one stack per environment (all of them, or those named by
 * `--environment` / `PIPELINE_ENVIRONMENT`), each written to cdktf.out/stacks/<environment>.
 */
function main(): void {
  // tsx maps every stack trace back to the TypeScript source; cdktf captures a full stack trace for each token it
  // creates (thousands per synth), which made that mapping a fifth of the synth's time. Synthesis reports its
  // errors without stack traces, so it does without the mapping.
  process.setSourceMapsEnabled(false);
  let environments: Environment[];
  let file: string;
  try {
    file = configPathFrom(process.argv.slice(2), process.env);
    environments = selectEnvironments(loadConfigFile(file), environmentsFrom(process.argv.slice(2), process.env), file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const app = new App();
  // The handlers do not depend on the environment: bundled once, the same zips serve every stack.
  const code = bundleLambdas(STAGES.map((stage) => ({ name: stage, entry: handlerEntry(stage) })));
  const tooLarge: string[] = [];
  for (const { name, config } of environments) {
    try {
      new PipelineStack(app, name, { config, code });
    } catch (e) {
      // A configuration whose stack would not fit AWS's limits is a configuration error too; every
      // environment's are listed.
      if (!(e instanceof AwsLimitError)) throw e;
      tooLarge.push(`Configuration ${file}${name === SINGLE_ENVIRONMENT ? '' : `, environment ${name}`}: ${e.message}`);
    }
  }
  if (tooLarge.length > 0) {
    process.stderr.write(`${tooLarge.join('\n')}\n`);
    process.exit(1);
  }
  app.synth();
}

main();
