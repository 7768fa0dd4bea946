import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate as NodeCertificate } from 'node:crypto';
import { x509 } from './x509.ts';

/** The subject of the CA the bridge creates for itself: what users see in their trust store. */
export const CA_SUBJECT = 'CN=AI Bridge local CA, O=AI Bridge';
const CA_LIFETIME_MS = 10 * 365 * 24 * 3_600_000;
/** Certificates start a little in the past, so a client whose clock runs behind still accepts them. */
export const BACKDATE_MS = 5 * 60_000;

/** A CA that cannot be created, read or used; the message names the file and what to do. */
export class CaError extends Error {}

/** The CA the proxy signs leaf certificates with. */
export interface CertificateAuthority {
  readonly certificate: x509.X509Certificate;
  /** The CA certificate, PEM: what clients add to their trust store. */
  readonly certificatePem: string;
  /** Certificates sent after each leaf: the CA itself, then any issuers given with it in ca_cert. */
  readonly chainPem: string;
  readonly signingKey: CryptoKey;
  readonly signingAlgorithm: Algorithm | EcdsaParams;
  /** The CA's subject key identifier (hex), which leaves name as their authority key identifier. */
  readonly keyIdentifier: string;
  /** SHA-256 of the CA certificate, hex with colons, as trust stores show it. */
  readonly fingerprint: string;
}

/** Where the files in an error message came from, e.g. `proxy.ca_cert (/etc/ca.pem)`. */
export interface PemOrigin {
  cert: string;
  key: string;
}

interface KeyAlgorithms {
  importParams: EcKeyImportParams | RsaHashedImportParams | Algorithm;
  signing: EcdsaParams | Algorithm;
}

const CURVES: Record<string, { curve: string; hash: string }> = {
  prime256v1: { curve: 'P-256', hash: 'SHA-256' },
  secp384r1: { curve: 'P-384', hash: 'SHA-384' },
  secp521r1: { curve: 'P-521', hash: 'SHA-512' },
};

/** How a key of this type is imported into WebCrypto and signs certificates. */
function algorithmsFor(key: KeyObject, origin: string): KeyAlgorithms {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const found = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (!found) throw new CaError(`${origin}: EC curve ${key.asymmetricKeyDetails?.namedCurve} is not supported`);
      return {
        importParams: { name: 'ECDSA', namedCurve: found.curve },
        signing: { name: 'ECDSA', hash: found.hash },
      };
    }
    case 'rsa':
      return {
        importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        signing: { name: 'RSASSA-PKCS1-v1_5' },
      };
    case 'ed25519':
      return { importParams: { name: 'Ed25519' }, signing: { name: 'Ed25519' } };
    default:
      throw new CaError(`${origin}: ${key.asymmetricKeyType} keys are not supported (use an EC, RSA or Ed25519 key)`);
  }
}

export function readPrivateKey(pem: string, origin: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(pem) || (err as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE';
    const reason = encrypted
      ? 'it is encrypted; give an unencrypted PEM key (keep the file 0600)'
      : 'it is not a PEM private key';
    throw new CaError(`${origin}: cannot be used: ${reason}`);
  }
}

/** The key as a WebCrypto pair (public half derived), for issuing a CA certificate over it. */
export async function keyPairOf(key: KeyObject, origin: string): Promise<CryptoKeyPair> {
  const { importParams } = algorithmsFor(key, origin);
  return {
    privateKey: key.toCryptoKey(importParams, false, ['sign']),
    publicKey: createPublicKey(key).toCryptoKey(importParams, true, ['verify']),
  } as CryptoKeyPair;
}

/** A random positive 128-bit serial number, hex. */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and never shortened to fewer bytes
  return Buffer.from(bytes).toString('hex');
}
/** A new ECDSA P-256 key, extractable so it can be written to ca.key. */
export async function generateCaKey(): Promise<{ keys: CryptoKeyPair; pem: string }> {
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const der = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keys, pem: `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n` };
}

/** A self-signed CA certificate over `keys`: CA:true critical with pathLen 0, keyCertSign and cRLSign. */
export async function issueCaCertificate(keys: CryptoKeyPair, now: Date, signing?: Algorithm): Promise<string> {
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: CA_SUBJECT,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
    keys,
    signingAlgorithm: signing ?? { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return `${certificate.toString('pem')}\n`;
}

/** The signing algorithm for a key found on disk (recovering a CA certificate for it). */
export function signingAlgorithmOf(key: KeyObject, origin: string): Algorithm {
  return algorithmsFor(key, origin).signing;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function parseCertificates(text: string, origin: string): x509.X509Certificate[] {
  const blocks = text.match(PEM_CERTIFICATE);
  if (!blocks) throw new CaError(`${origin}: holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new x509.X509Certificate(block);
    } catch {
      throw new CaError(`${origin}: certificate ${i + 1} is not a valid X.509 certificate`);
    }
  });
}

/** Why this certificate cannot sign leaves today, or undefined when it can. */
function unusable(cert: x509.X509Certificate, now: Date): string | undefined {
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca !== true) {
    return 'is not a CA certificate (basicConstraints CA:TRUE is missing)';
  }
  // An absent keyUsage restricts nothing (RFC 5280); a present one must allow signing certificates.
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  if (usage && !(usage.usages & x509.KeyUsageFlags.keyCertSign)) {
    return 'may not sign certificates (its keyUsage lacks keyCertSign)';
  }
  if (now < cert.notBefore) return `is not valid until ${cert.notBefore.toISOString()}`;
  if (now >= cert.notAfter) return `expired on ${cert.notAfter.toISOString()}`;
  return undefined;
}

/**
 * Checks a CA certificate (optionally followed by its own issuers) and its private key, and
 * makes them ready to sign: the key must belong to the first certificate, which must be a CA
 * allowed to sign certificates and valid at `now`.
 */
export async function caFromPem(
  certText: string,
  keyText: string,
  origin: PemOrigin,
  now = new Date(),
): Promise<CertificateAuthority> {
  const certs = parseCertificates(certText, origin.cert);
  const certificate = certs[0]!;
  const key = readPrivateKey(keyText, origin.key);
  const algorithms = algorithmsFor(key, origin.key);
  if (!new NodeCertificate(Buffer.from(certificate.rawData)).checkPrivateKey(key)) {
    throw new CaError(`${origin.key}: does not belong to the certificate in ${origin.cert}`);
  }
  const problem = unusable(certificate, now);
  if (problem) throw new CaError(`${origin.cert}: ${problem}`);
  const signingKey = key.toCryptoKey(algorithms.importParams, false, ['sign']) as unknown as CryptoKey;
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const keyIdentifier = ski ?? Buffer.from(await certificate.publicKey.getKeyIdentifier()).toString('hex');
  const digest = Buffer.from(await certificate.getThumbprint('SHA-256')).toString('hex');
  return {
    certificate,
    certificatePem: `${certificate.toString('pem')}\n`,
    chainPem: certs.map((c) => `${c.toString('pem')}\n`).join(''),
    signingKey,
    signingAlgorithm: algorithms.signing,
    keyIdentifier,
    fingerprint: digest.toUpperCase().replace(/(..)(?!$)/g, '$1:'),
  };
}
