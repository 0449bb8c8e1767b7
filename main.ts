import { App } from 'cdktf';
import { ConfigError, configPathFrom, loadConfig } from './config/load';
import type { PipelineConfig } from './config/schema';
import { AwsLimitError } from './modules/aws-limits';
import { PipelineStack, STACK_ID } from './modules/pipeline-stack';

/** Reads the configuration, builds the pipeline stack and writes the Terraform to cdktf.out/stacks/pipeline. */
function main(): void {
  let config: PipelineConfig;
  let file: string | undefined;
  try {
    file = configPathFrom(process.argv.slice(2), process.env);
    config = loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const app = new App();
  try {
    new PipelineStack(app, STACK_ID, { config });
  } catch (e) {
    // A configuration whose stack would not fit AWS's limits is a configuration error too.
    if (e instanceof AwsLimitError) {
      process.stderr.write(`Configuration ${file}: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  app.synth();
}

main();
