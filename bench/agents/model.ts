// The scripted model behind the agents benchmark's upstream. The client writes a plan into each
// prompt ("[[bench s3p7 plan=Read,mcp+Grep,Edit]]"); the model follows it step by step, counting
// the calls of the client's own tools the conversation already holds after that prompt, as a real
// model moves on once a tool's result is in. A step "mcp+Grep" first calls the injected echo tool
// (a tool named …echo, which only a gateway running the tool loop offers), then, once its result is in,
// Grep. Ids are derived from the plan's tag and step, so every system sees the same bytes.

/** The keys the upstream takes (the bridge's benchmark configuration sends these). */
export const UPSTREAM_KEYS = { anthropic: 'sk-ant-bench', openai: 'sk-bench' } as const;

export const PLAN = /\[\[bench (\S+) plan=([\w+,]*)\]\]/;
/** Ids of the injected calls the model makes: how it tells their results from the client's. */
export const INJECTED_ID = { anthropic: 'toolu_01Injected', openai: 'call_Injected' } as const;
/** The injected tool, however a gateway names it (the bridge: bmcp_test_echo); no agent tool ends so. */
export const INJECTED_TOOL = /echo$/i;

export type Answer = { text: string } | { text: string; tool: string; id: string; input: Record<string, unknown> };

export class Refusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const WORDS = ['the', 'retry', 'loop', 'now', 'caps', 'its', 'backoff', 'at', 'thirty', 'seconds;', 'tests', 'pass.'];

/** `count` deltas of a few words each, the same for the same tag. */
export function deltas(tag: string, count: number): string[] {
  let seed = 0;
  for (const c of tag) seed = (seed * 31 + c.charCodeAt(0)) >>> 0;
  return Array.from({ length: count }, (_, i) => {
    const n = 2 + ((seed + i) % 4);
    return ` ${Array.from({ length: n }, (_, j) => WORDS[(seed + i * 7 + j) % WORDS.length]).join(' ')}`;
  });
}

/** What the client's own tools are asked to do, by name: a plausible input. */
function inputFor(tool: string, tag: string, step: number): Record<string, unknown> {
  const file = `src/retry/backoff-${step}.ts`;
  switch (tool) {
    case 'Bash':
    case 'exec_command':
      return { command: `npx vitest run test/retry.test.ts # ${tag}`, description: 'Run the retry tests' };
    case 'Grep':
      return { pattern: 'backoff', path: 'src', output_mode: 'content' };
    case 'Glob':
      return { pattern: 'src/**/*.ts' };
    case 'Edit':
      return { file_path: file, old_string: 'Math.min(delay, 60_000)', new_string: 'Math.min(delay, 30_000)' };
    case 'apply_patch':
      return { input: `*** Begin Patch\n*** Update File: ${file}\n-60_000\n+30_000\n*** End Patch` };
    default:
      return { file_path: file };
  }
}

/**
 * The model's next answer, given the steps of the plan, how many client tool calls already
 * followed the prompt, and whether the conversation ends in an injected tool's result.
 */
export function decide(
  api: keyof typeof INJECTED_ID,
  plan: { tag: string; steps: string[] },
  done: number,
  afterInjected: boolean,
  injectedName: string | undefined,
): Answer {
  const step = plan.steps[done];
  const text = `${plan.tag} step ${done}:`;
  if (step === undefined) return { text: `${plan.tag} done.` };
  const [first, then] = step.startsWith('mcp+') ? ['mcp', step.slice(4)] : [step, undefined];
  if (first === 'mcp' && !afterInjected) {
    if (!injectedName) throw new Refusal(400, `the plan of ${plan.tag} calls an injected tool, but none is offered`);
    return { text, tool: injectedName, id: `${INJECTED_ID[api]}${plan.tag}x${done}`, input: { text: plan.tag } };
  }
  const tool = first === 'mcp' ? then : first;
  if (!tool) return { text: `${plan.tag} done.` };
  const id = api === 'anthropic' ? `toolu_01Client${plan.tag}x${done}` : `call_Client${plan.tag}x${done}`;
  return { text, tool, id, input: inputFor(tool, plan.tag, done) };
}

export function parsePlan(text: string): { tag: string; steps: string[] } | undefined {
  const match = PLAN.exec(text);
  if (!match) return undefined;
  return { tag: match[1] as string, steps: (match[2] as string).split(',').filter(Boolean) };
}

export const planMarker = (tag: string, steps: string[]) => `[[bench ${tag} plan=${steps.join(',')}]]`;
