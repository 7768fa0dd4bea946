import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';
import { x509 } from '../../src/proxy/x509.ts';

/** A certificate and its key, PEM, made for a test (any shape, including ones the proxy must refuse). */
export interface TestCertificate {
  certPem: string;
  keyPem: string;
  keys: CryptoKeyPair;
  subject: string;
}

export interface CertificateShape {
  subject: string;
  /** Signed by this one; self-signed when absent. */
  issuer?: TestCertificate;
  ca?: boolean;
  pathLength?: number;
  /** keyUsage flags; absent: no keyUsage extension. */
  keyUsage?: number;
  san?: Array<{ type: 'dns' | 'ip'; value: string }>;
  key?: 'ec' | 'rsa';
  notBefore?: Date;
  notAfter?: Date;
}

const DAY = 86_400_000;

export async function makeCertificate(shape: CertificateShape): Promise<TestCertificate> {
  const algorithm =
    shape.key === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const signer = shape.issuer ?? { keys, subject: shape.subject };
  const signing =
    signer.keys.privateKey.algorithm.name === 'ECDSA'
      ? { name: 'ECDSA', hash: 'SHA-256' }
      : signer.keys.privateKey.algorithm;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(shape.ca ?? false, shape.pathLength, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (shape.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(shape.keyUsage, true));
  if (shape.san) extensions.push(new x509.SubjectAlternativeNameExtension(shape.san));
  if (shape.issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(shape.issuer.keys.publicKey));
  const cert = await x509.X509CertificateGenerator.create({
    subject: shape.subject,
    issuer: signer.subject,
    notBefore: shape.notBefore ?? new Date(Date.now() - DAY),
    notAfter: shape.notAfter ?? new Date(Date.now() + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey: signer.keys.privateKey,
    signingAlgorithm: signing,
    extensions,
  });
  const keyPem = x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certPem: cert.toString('pem'), keyPem, keys, subject: shape.subject };
}

/** A TLS server on loopback with a self-signed certificate of its own, answering a fixed line to each request. */
export async function selfSignedTlsServer(reply: string): Promise<{ server: Server; port: number; certPem: string }> {
  const own = await makeCertificate({
    subject: 'CN=tunnelled.test',
    san: [
      { type: 'ip', value: '127.0.0.1' },
      { type: 'dns', value: 'localhost' },
    ],
    keyUsage: x509.KeyUsageFlags.digitalSignature,
  });
  const server = createServer({ key: own.keyPem, cert: own.certPem }, (socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.end(
        `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${reply.length}\r\nConnection: close\r\n\r\n${reply}`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, certPem: own.certPem };
}
