import type { PipelineConfigInput } from '../../config/schema';
import example from '../../config/example.json';

/**
 * The production environment of the shipped example, as written (a fresh copy each call): the environment
 * tests build stacks and commands from.
 */
export function exampleEnvironment(): PipelineConfigInput {
  return structuredClone(example.environments.production) as PipelineConfigInput;
}
