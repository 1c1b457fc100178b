// Miniflare options for the compiled Worker (build/index.js and its .wasm) with its Durable Object,
// in one place: the end-to-end harness (harness.mjs) and the workerd benchmark (bench/workerd.mjs)
// both build their Miniflare from here, so a benchmark measures the Worker as the tests run it.
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The Worker's Durable Object bindings, as wrangler.toml declares them. The object form with
 * `useSQLite: true` is required: Miniflare's string form is a KV-backed object, without SQL.
 */
export const DURABLE_OBJECTS = {
  TARGET_STATE: { className: 'TargetState', useSQLite: true },
};

/**
 * Options for `new Miniflare(...)`.
 * @param {object} o
 * @param {Record<string,string>} o.bindings vars and secrets
 * @param {string} [o.persistDir] keep Durable Object storage in this directory (survives a new
 *   Miniflare on the same directory, as storage survives a redeploy); default: in memory
 * @param {Function} [o.handleRuntimeStdio]
 */
export function workerOptions({ bindings, persistDir, handleRuntimeStdio }) {
  return {
    rootPath: ROOT,
    scriptPath: 'build/index.js',
    modules: true,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
    compatibilityDate: '2025-09-01',
    bindings,
    durableObjects: DURABLE_OBJECTS,
    durableObjectsPersist: persistDir ?? false,
    ...(handleRuntimeStdio ? { handleRuntimeStdio } : {}),
  };
}
