import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** What the proxy knows about an intercepted TLS session, for the server it hands the socket to. */
export interface ProxyFacts<P = unknown> {
  /** The CONNECT host, as mapped in proxy.hosts (lower case). */
  host: string;
  port: number;
  /** The provider that host maps to: requests are served as if sent to /<provider>/... */
  provider: string;
  /** Who authenticated the CONNECT with Proxy-Authorization. */
  principal: P;
}

interface Tag {
  facts: ProxyFacts<unknown>;
  countRequest(): void;
}

// Symbol-keyed, so nothing a client sends can set it: only sockets the proxy made carry it.
const TAG = Symbol('aibridge.proxy');
const ROUTED = Symbol('aibridge.proxy.routed');

type Tagged = { [TAG]?: Tag };

export function tagSocket(socket: Socket, facts: ProxyFacts<unknown>, countRequest: () => void): void {
  (socket as Socket & Tagged)[TAG] = { facts, countRequest };
}

/** The proxy facts of a socket the intercepting proxy handed over, else undefined (an ordinary connection). */
export function proxyFactsOf<P = unknown>(socket: Socket | null | undefined): ProxyFacts<P> | undefined {
  return (socket as (Socket & Tagged) | null | undefined)?.[TAG]?.facts as ProxyFacts<P> | undefined;
}

/**
 * For a request that came through an intercepted session: rewrites its URL to the mapped
 * provider's route (`/v1/messages` on api.anthropic.com → `/anthropic/v1/messages`), counts it
 * for aibridge_proxy_mitm_requests_total, and returns the facts (once per request; later calls
 * only return them). Undefined, and the request untouched, for every other request.
 */
export function routeProxiedRequest<P = unknown>(req: IncomingMessage): ProxyFacts<P> | undefined {
  const tag = (req.socket as (Socket & Tagged) | null)?.[TAG];
  if (!tag) return undefined;
  const routed = req as IncomingMessage & { [ROUTED]?: true };
  if (!routed[ROUTED]) {
    routed[ROUTED] = true;
    tag.countRequest();
    // Only origin-form paths are mapped; anything else is left for the path checks to refuse.
    if (req.url?.startsWith('/')) req.url = `/${tag.facts.provider}${req.url}`;
  }
  return tag.facts as ProxyFacts<P>;
}
