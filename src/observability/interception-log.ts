import { InterceptionLog } from '../intercept/recording.ts';
import type { ToolCall, Usage } from '../intercept/types.ts';
import type { Recorder } from '../recorder/recorder.ts';
import type { InterceptionRecord } from '../recorder/records.ts';
import type { InterceptionTelemetry } from './interception.ts';

type Fields = Omit<InterceptionRecord, '_id' | 'ended_at' | 'status'>;
type ToolFields = Parameters<InterceptionLog['tool']>[2];

/**
 * The interception log with its telemetry: each hand-off to the recorder is an
 * `Intercept.Record*` span (the hand-off only, the database write happens later) and
 * feeds the prompt, token and tool counters.
 */
export class ObservedInterceptionLog extends InterceptionLog {
  // No initialisers: the span below must start before super() runs.
  readonly telemetry: InterceptionTelemetry;
  private prompted?: boolean;

  constructor(telemetry: InterceptionTelemetry, recorder: Recorder, fields: Fields) {
    const span = telemetry.span('Intercept.RecordInterception');
    super(recorder, fields);
    this.telemetry = telemetry;
    telemetry.identify(this.id, fields.client);
    span?.setAttribute('interception_id', this.id);
    span?.end();
  }

  override prompt(text: string | null, responseId: string | null): void {
    if (this.prompted || text === null) return;
    this.prompted = true;
    const span = this.telemetry.span('Intercept.RecordPromptUsage');
    super.prompt(text, responseId);
    span?.end();
    this.telemetry.prompt();
  }

  override tokens(usage: Usage, responseId: string | null): void {
    const span = this.telemetry.span('Intercept.RecordTokenUsage');
    super.tokens(usage, responseId);
    span?.end();
    this.telemetry.tokens(usage);
  }

  override tool(call: ToolCall, responseId: string | null, fields: ToolFields): void {
    const span = this.telemetry.span('Intercept.RecordToolUsage', { tool: fields.tool, injected: fields.injected });
    super.tool(call, responseId, fields);
    span?.end();
    if (!fields.injected) this.telemetry.clientTool(call.name);
  }

  override ended(status: 'completed' | 'failed', metadata?: Record<string, unknown>): void {
    const span = this.telemetry.span('Intercept.RecordInterceptionEnded', { status });
    super.ended(status, metadata);
    span?.end();
    this.telemetry.finish(status, typeof metadata?.error === 'string' ? metadata.error : undefined);
  }
}
