import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { Logger } from '../observability/logger.ts';
import { ESTABLISHED } from './answers.ts';
import { type ProxyFacts, tagSocket } from './facts.ts';
import type { ProxyMetrics } from './metrics.ts';
import { normalHost } from './target.ts';

export interface SessionOptions<P> {
  facts: ProxyFacts<P>;
  /** The mapped host's leaf. */
  context: SecureContext;
  handshakeTimeoutMs: number;
  serve(socket: TLSSocket, facts: ProxyFacts<P>): void;
  metrics: ProxyMetrics;
  log: Logger;
}

/**
 * Answers 200 and terminates the client's TLS with the host's leaf (HTTP/1.1 only; a server
 * name, if sent, must be the CONNECT host), then hands the decrypted socket, tagged with the
 * facts, to `serve`. A handshake that fails, stalls or is abandoned is counted as tls_failed.
 */
export function interceptSession<P>(socket: Socket, head: Buffer, options: SessionOptions<P>): void {
  const { facts, context, metrics, log } = options;
  socket.write(ESTABLISHED);
  // Bytes a client sent before our 200 (a TLS hello sent early) are given back to the socket first.
  if (head.length) socket.unshift(head);
  const tls = new TLSSocket(socket, {
    isServer: true,
    secureContext: context,
    ALPNProtocols: ['http/1.1'],
    SNICallback: (servername, done) => {
      if (normalHost(servername) === facts.host) done(null, context);
      else done(new Error(`the TLS server name differs from the CONNECT host ${facts.host}`));
    },
  });
  const timer = setTimeout(() => tls.destroy(new Error('TLS handshake timed out')), options.handshakeTimeoutMs);
  let settled = false;
  const failed = (reason: string) => {
    clearTimeout(timer);
    if (settled) return;
    settled = true;
    metrics.connectSession('tls_failed');
    // Most often the client does not trust the bridge's CA (`aibridge proxy ca`).
    log.warn({ host: facts.host, reason }, 'proxy: TLS handshake with a client failed');
  };
  tls.on('error', (err) => {
    failed(err.message);
    socket.destroy();
  });
  // A client that rejects the certificate (Node, for one) often just closes, without an alert.
  tls.once('close', () => failed('the client closed the connection during the handshake; does it trust the CA?'));
  tls.once('secure', () => {
    clearTimeout(timer);
    if (settled) return;
    settled = true;
    metrics.connectSession('intercepted');
    tagSocket(tls, facts, () => metrics.mitmRequest(facts.host));
    log.debug({ host: facts.host, provider: facts.provider }, 'proxy: intercepting');
    try {
      options.serve(tls, facts);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'proxy: the bridge could not take an intercepted session');
      tls.destroy();
    }
  });
}
