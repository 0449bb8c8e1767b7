import { App } from 'cdktf';
import { ConfigError, configPathFrom, loadConfig } from './config/load';
import type { PipelineConfig } from './config/schema';
import { PipelineStack, STACK_ID } from './modules/pipeline-stack';

/** Reads the configuration, builds the pipeline stack and writes the Terraform to cdktf.out/stacks/pipeline. */
function main(): void {
  let config: PipelineConfig;
  try {
    config = loadConfig(configPathFrom(process.argv.slice(2), process.env));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const app = new App();
  new PipelineStack(app, STACK_ID, { config });
  app.synth();
}

main();
