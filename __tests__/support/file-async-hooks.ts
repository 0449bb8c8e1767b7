import asyncHooks from 'node:async_hooks';

/**
 * Jest setup: the async hooks a test file enables end with that file.
 *
 * A worker runs many test files in one process. Each file loads its modules afresh, but Node's async_hooks
 * are the process's own: the X-Ray SDK (loaded by the Powertools tracer) enables a hook with init, before,
 * after and destroy callbacks when it loads, and every file that loads it again enables one more, so that
 * by the end of a run every promise of a later file paid for a dozen hooks of files long finished. Hooks
 * created while a file runs are recorded here and disabled after its last test.
 */
const created = Symbol.for('pipeline.test.fileAsyncHooks');

type HookRegistry = { hooks: asyncHooks.AsyncHook[] };
type Patched = typeof asyncHooks & { [created]?: HookRegistry };

const hooks = asyncHooks as Patched;
if (!hooks[created]) {
  const registry: HookRegistry = { hooks: [] };
  const createHook = hooks.createHook;
  hooks.createHook = (callbacks) => {
    const hook = createHook(callbacks);
    registry.hooks.push(hook);
    return hook;
  };
  hooks[created] = registry;
}
const registry = hooks[created] as HookRegistry;
// Whatever an earlier file left behind is not this file's.
for (const hook of registry.hooks.splice(0)) hook.disable();

afterAll(() => {
  for (const hook of registry.hooks.splice(0)) hook.disable();
});
