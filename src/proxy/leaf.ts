import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { BACKDATE_MS, type CertificateAuthority, randomSerial } from './ca.ts';
import { x509 } from './x509.ts';

const HOUR_MS = 3_600_000;

export interface LeafOptions {
  /** The clock, ms since the epoch (tests move it). */
  now?: () => number;
  /** How long a leaf is valid. */
  lifetimeMs?: number;
  /** A leaf with less than this left is replaced before it is used again. */
  renewBeforeMs?: number;
  /** Hosts whose leaf is kept ready; the least recently used goes first. */
  maxEntries?: number;
}

/** One host's certificate, ready to serve. */
export interface Leaf {
  readonly context: SecureContext;
  readonly certificatePem: string;
  readonly notAfter: Date;
}

/**
 * Leaf certificates for the hosts the proxy intercepts, signed by the CA: short-lived (24 h,
 * started 5 min early for clients whose clock is behind, never past the CA's own end), with
 * the host as a DNS name or IP address SAN and serverAuth. Kept per host as a ready TLS
 * context, renewed an hour before the end; concurrent requests for one host share one issuance.
 */
export class LeafCertificates {
  readonly #ca: CertificateAuthority;
  readonly #now: () => number;
  readonly #lifetimeMs: number;
  readonly #renewBeforeMs: number;
  readonly #maxEntries: number;
  readonly #ready = new Map<string, Leaf>();
  readonly #pending = new Map<string, Promise<Leaf>>();

  constructor(ca: CertificateAuthority, options: LeafOptions = {}) {
    this.#ca = ca;
    this.#now = options.now ?? Date.now;
    this.#lifetimeMs = options.lifetimeMs ?? 24 * HOUR_MS;
    this.#renewBeforeMs = Math.min(options.renewBeforeMs ?? HOUR_MS, this.#lifetimeMs / 2);
    this.#maxEntries = options.maxEntries ?? 256;
  }

  get ca(): CertificateAuthority {
    return this.#ca;
  }

  /** The leaf for `host` (a name, or an IP address without brackets), issued if needed. */
  leafFor(host: string): Promise<Leaf> {
    const ready = this.#ready.get(host);
    if (ready && ready.notAfter.getTime() - this.#now() > this.#renewBeforeMs) {
      this.#ready.delete(host); // most recently used goes last
      this.#ready.set(host, ready);
      return Promise.resolve(ready);
    }
    let pending = this.#pending.get(host);
    if (!pending) {
      pending = this.#issue(host)
        .then((leaf) => {
          this.#ready.delete(host);
          this.#ready.set(host, leaf);
          if (this.#ready.size > this.#maxEntries) this.#ready.delete(this.#ready.keys().next().value!);
          return leaf;
        })
        .finally(() => this.#pending.delete(host));
      this.#pending.set(host, pending);
    }
    return pending;
  }

  async #issue(host: string): Promise<Leaf> {
    const ca = this.#ca;
    const now = this.#now();
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const notBefore = new Date(Math.max(now - BACKDATE_MS, ca.certificate.notBefore.getTime()));
    const notAfter = new Date(Math.min(now + this.#lifetimeMs, ca.certificate.notAfter.getTime()));
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [{ CN: [host] }],
      issuer: ca.certificate.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: ca.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: isIP(host) ? 'ip' : 'dns', value: host }]),
        new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const certificatePem = `${certificate.toString('pem')}\n`;
    const key = x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    const context = createSecureContext({
      key,
      cert: certificatePem + ca.chainPem,
      minVersion: 'TLSv1.2',
    });
    return { context, certificatePem, notAfter: certificate.notAfter };
  }
}
