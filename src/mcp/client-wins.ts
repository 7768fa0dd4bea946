import { INJECTED_PREFIX } from './tool-names.ts';
import type { RequestBridge } from './types.ts';

/**
 * A request's tools when the client defines some of its own: a client tool whose name equals an
 * injected one wins. That injected tool is left out of this request, and the model's call of the
 * name is the client's (it reaches the client and is recorded as a client tool). A request whose
 * tools clash with none keeps the pool's bridge itself, and so its byte-stable tool block.
 */
export function clientToolsWin(bridge: RequestBridge, clientNames: readonly string[]): RequestBridge {
  const clash = new Set(clientNames.filter((name) => name.startsWith(INJECTED_PREFIX) && bridge.claim(name)));
  if (!clash.size) return bridge;
  const offered = bridge.tools.filter((tool) => !clash.has(tool.name));
  return {
    tools: offered,
    claim: (name) => (clash.has(name) ? undefined : bridge.claim(name)),
    call: (name, args, options) => bridge.call(name, args, options),
  };
}
