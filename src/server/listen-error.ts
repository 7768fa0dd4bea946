/** What the common listen failures mean, in words an operator acts on. */
const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name could not be resolved',
};

/** A start-up failure to bind; its message is the one line `aibridge server` prints. */
export class ListenError extends Error {}

export function listenError(err: unknown, listen: string): ListenError {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const reason = REASONS[code] ?? (err as Error)?.message ?? String(err);
  return new ListenError(`cannot listen on ${listen}: ${reason}`);
}
