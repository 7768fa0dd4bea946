import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CA_SUBJECT, CaError } from '../../src/proxy/ca.ts';
import { CA_CERT_FILE, CA_KEY_FILE, caSourceOf, openCa, proxyDir } from '../../src/proxy/ca-files.ts';
import { LeafCertificates } from '../../src/proxy/leaf.ts';
import { x509 } from '../../src/proxy/x509.ts';
import { makeCertificate } from '../helpers/certificates.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-proxy-ca-');
const HOUR = 3_600_000;
const mode = (path: string) => statSync(path).mode & 0o777;
const SIGN = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

/** Writes a certificate and key to files and returns the source naming them. */
function given(dir: string, certPem: string, keyPem: string) {
  const certFile = join(dir, 'given-ca.pem');
  const keyFile = join(dir, 'given-ca.key');
  writeFileSync(certFile, certPem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  return { certFile, keyFile };
}

describe('the bridge CA under data_dir', () => {
  it('is created on first use: folder 0700, key and certificate 0600, a P-256 CA that may sign only certificates', async () => {
    const dataDir = tempDir();
    const ca = await openCa({ dir: proxyDir(dataDir) });
    const dir = join(dataDir, 'proxy');
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, CA_KEY_FILE))).toBe(0o600);
    expect(mode(join(dir, CA_CERT_FILE))).toBe(0o600);

    const certPem = readFileSync(join(dir, CA_CERT_FILE), 'utf8');
    expect(certPem).toBe(ca.certificatePem);
    const cert = new X509Certificate(certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=AI Bridge local CA\nO=AI Bridge');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(join(dir, CA_KEY_FILE))))).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const years = (Date.parse(cert.validTo) - Date.now()) / (365 * 24 * HOUR);
    expect(years).toBeGreaterThan(9.9);
    expect(years).toBeLessThan(10.1);

    const parsed = new x509.X509Certificate(certPem);
    const constraints = parsed.getExtension(x509.BasicConstraintsExtension)!;
    expect([constraints.ca, constraints.pathLength, constraints.critical]).toEqual([true, 0, true]);
    const usage = parsed.getExtension(x509.KeyUsagesExtension)!;
    expect([usage.usages, usage.critical]).toEqual([SIGN, true]);
    expect(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toBe(ca.keyIdentifier);
    expect(parsed.subject).toBe(CA_SUBJECT);
    expect(ca.fingerprint).toBe(cert.fingerprint256);
  });

  it('is read back, not replaced, on the next start', async () => {
    const dir = proxyDir(tempDir());
    const first = await openCa({ dir });
    const again = await openCa({ dir });
    expect(again.fingerprint).toBe(first.fingerprint);
  });

  it('ends as one CA when many start at once', async () => {
    const dir = proxyDir(tempDir());
    const all = await Promise.all(Array.from({ length: 8 }, () => openCa({ dir })));
    expect(new Set(all.map((ca) => ca.fingerprint)).size).toBe(1);
    expect(all[0]!.certificatePem).toBe(readFileSync(join(dir, CA_CERT_FILE), 'utf8'));
    // Nothing half-written is left behind.
    expect(readFileSync(join(dir, CA_KEY_FILE), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('gets its certificate back over the same key when a crash left only ca.key', async () => {
    const dir = proxyDir(tempDir());
    const first = await openCa({ dir });
    rmSync(join(dir, CA_CERT_FILE));
    const recovered = await openCa({ dir });
    const key = createPrivateKey(readFileSync(join(dir, CA_KEY_FILE)));
    expect(new X509Certificate(recovered.certificatePem).checkPrivateKey(key)).toBe(true);
    expect(recovered.keyIdentifier).toBe(first.keyIdentifier);
  });

  it('refuses a certificate left without its key, naming what to do', async () => {
    const dir = proxyDir(tempDir());
    await openCa({ dir });
    rmSync(join(dir, CA_KEY_FILE));
    await expect(openCa({ dir })).rejects.toThrow(/ca\.crt: exists without ca\.key; restore the key, or delete/);
  });

  it('refuses an expired one, saying how to start over', async () => {
    const dir = proxyDir(tempDir());
    await openCa({ dir });
    await expect(openCa({ dir }, { now: new Date(Date.now() + 11 * 365 * 24 * HOUR) })).rejects.toThrow(
      /expired on .*; delete .* to create a new CA/,
    );
  });

  it('tightens a folder that existed with a looser mode', async () => {
    const dataDir = tempDir();
    const dir = proxyDir(dataDir);
    await openCa({ dir });
    rmSync(dir, { recursive: true });
    mkdirSync(dir, { mode: 0o755 });
    await openCa({ dir });
    expect(mode(dir)).toBe(0o700);
  });
});

describe('a CA given as proxy.ca_cert / proxy.ca_key', () => {
  it('is used as given: RSA, with no keyUsage extension (as openssl req -x509 makes them)', async () => {
    const own = await makeCertificate({ subject: 'CN=Corp Proxy CA', ca: true, key: 'rsa' });
    const ca = await openCa(given(tempDir(), own.certPem, own.keyPem));
    expect(ca.certificatePem.replace(/\s/g, '')).toBe(own.certPem.replace(/\s/g, ''));
    expect(ca.signingAlgorithm.name).toBe('RSASSA-PKCS1-v1_5');
  });

  it('keeps the issuers that follow the CA in ca_cert, to send after each leaf', async () => {
    const root = await makeCertificate({ subject: 'CN=Corp Root', ca: true, keyUsage: SIGN });
    const intermediate = await makeCertificate({
      subject: 'CN=Corp Proxy Intermediate',
      issuer: root,
      ca: true,
      pathLength: 0,
      keyUsage: SIGN,
    });
    const ca = await openCa(given(tempDir(), `${intermediate.certPem}\n${root.certPem}`, intermediate.keyPem));
    expect(ca.certificate.subject).toBe('CN=Corp Proxy Intermediate');
    expect(ca.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });

  it.each([
    ['a key of another certificate', 'mismatch'],
    ['a certificate that is not a CA', 'leaf'],
    ['a CA whose keyUsage lacks keyCertSign', 'no-sign'],
    ['an expired CA', 'expired'],
    ['a CA not valid yet', 'future'],
    ['a file that is not PEM', 'garbage'],
    ['an encrypted key', 'encrypted'],
  ])('is refused with a clear error: %s', async (_, kind) => {
    const dir = tempDir();
    const good = await makeCertificate({ subject: 'CN=Good CA', ca: true, keyUsage: SIGN });
    const other = await makeCertificate({ subject: 'CN=Other CA', ca: true, keyUsage: SIGN });
    const now = Date.now();
    const cases: Record<string, () => Promise<[string, string, RegExp]>> = {
      mismatch: async () => [good.certPem, other.keyPem, /proxy\.ca_key \(.*\): does not belong to the certificate/],
      leaf: async () => {
        const leaf = await makeCertificate({ subject: 'CN=leaf', issuer: good });
        return [leaf.certPem, leaf.keyPem, /is not a CA certificate \(basicConstraints CA:TRUE is missing\)/];
      },
      'no-sign': async () => {
        const c = await makeCertificate({ subject: 'CN=x', ca: true, keyUsage: x509.KeyUsageFlags.digitalSignature });
        return [c.certPem, c.keyPem, /may not sign certificates \(its keyUsage lacks keyCertSign\)/];
      },
      expired: async () => {
        const c = await makeCertificate({
          subject: 'CN=x',
          ca: true,
          notBefore: new Date(now - 10 * 24 * HOUR),
          notAfter: new Date(now - 24 * HOUR),
        });
        return [c.certPem, c.keyPem, /proxy\.ca_cert \(.*\): expired on /];
      },
      future: async () => {
        const c = await makeCertificate({ subject: 'CN=x', ca: true, notBefore: new Date(now + 24 * HOUR) });
        return [c.certPem, c.keyPem, /is not valid until /];
      },
      garbage: async () => ['not a certificate', good.keyPem, /proxy\.ca_cert \(.*\): holds no PEM certificate/],
      encrypted: async () => {
        const encrypted = createPrivateKey(good.keyPem).export({
          type: 'pkcs8',
          format: 'pem',
          cipher: 'aes-256-cbc',
          passphrase: 'secret',
        });
        return [good.certPem, encrypted as string, /proxy\.ca_key \(.*\): cannot be used: it is encrypted/];
      },
    };
    const [certPem, keyPem, message] = await cases[kind]!();
    const error = await openCa(given(dir, certPem, keyPem)).catch((err: Error) => err);
    expect(error).toBeInstanceOf(CaError);
    expect((error as Error).message).toMatch(message);
  });

  it('is refused when a file cannot be read, naming the setting and the path', async () => {
    const dir = tempDir();
    await expect(openCa({ certFile: join(dir, 'missing.pem'), keyFile: join(dir, 'missing.key') })).rejects.toThrow(
      /proxy\.ca_(cert|key) \(.*missing\.(pem|key)\): cannot be read \(ENOENT\)/,
    );
  });

  it('needs both settings or neither', () => {
    expect(caSourceOf('/data')).toEqual({ dir: join('/data', 'proxy') });
    expect(caSourceOf('/data', { ca_cert: 'a.pem', ca_key: 'a.key' })).toEqual({ certFile: 'a.pem', keyFile: 'a.key' });
    expect(() => caSourceOf('/data', { ca_cert: 'a.pem' })).toThrow(
      'proxy.ca_key: is required when proxy.ca_cert is set',
    );
    expect(() => caSourceOf('/data', { ca_key: 'a.key' })).toThrow(
      'proxy.ca_cert: is required when proxy.ca_key is set',
    );
  });
});

describe('leaf certificates', () => {
  it('name the host (DNS or IP), serve only as TLS servers, last 24 h from 5 min ago, and chain to the CA', async () => {
    const ca = await openCa({ dir: proxyDir(tempDir()) });
    const issuedAt = Date.now();
    const leaves = new LeafCertificates(ca, { now: () => issuedAt });
    const caCert = new X509Certificate(ca.certificatePem);
    for (const [host, san] of [
      ['api.anthropic.com', 'DNS:api.anthropic.com'],
      ['10.1.2.3', 'IP Address:10.1.2.3'],
      ['::1', 'IP Address:0:0:0:0:0:0:0:1'],
    ]) {
      const leaf = await leaves.leafFor(host!);
      const cert = new X509Certificate(leaf.certificatePem);
      expect(cert.subjectAltName).toBe(san);
      expect(cert.ca).toBe(false);
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // Node names the EKU list keyUsage
      expect(cert.checkIssued(caCert)).toBe(true);
      expect(cert.verify(caCert.publicKey)).toBe(true);
      expect(Date.parse(cert.validFrom)).toBe(Math.floor((issuedAt - 5 * 60_000) / 1000) * 1000);
      expect(Date.parse(cert.validTo)).toBe(Math.floor((issuedAt + 24 * HOUR) / 1000) * 1000);
      const parsed = new x509.X509Certificate(leaf.certificatePem);
      expect(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(ca.keyIdentifier);
      expect(parsed.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    }
  });

  it('are kept per host, shared by concurrent requests, and renewed within an hour of their end', async () => {
    const ca = await openCa({ dir: proxyDir(tempDir()) });
    let now = Date.now();
    const leaves = new LeafCertificates(ca, { now: () => now });
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => leaves.leafFor('api.openai.com')));
    expect(new Set(concurrent).size).toBe(1);
    const first = concurrent[0]!;
    now += 22 * HOUR; // two hours left: still served
    expect(await leaves.leafFor('api.openai.com')).toBe(first);
    now += 90 * 60_000; // half an hour left: replaced
    const renewed = await leaves.leafFor('api.openai.com');
    expect(renewed).not.toBe(first);
    expect(renewed.notAfter.getTime()).toBe(Math.floor((now + 24 * HOUR) / 1000) * 1000);
    expect(await leaves.leafFor('api.openai.com')).toBe(renewed);
  });

  it('never outlive the CA', async () => {
    const ca = await openCa({ dir: proxyDir(tempDir()) });
    const caEnd = ca.certificate.notAfter.getTime();
    const leaves = new LeafCertificates(ca, { now: () => caEnd - 3 * HOUR });
    expect((await leaves.leafFor('api.openai.com')).notAfter.getTime()).toBe(caEnd);
  });

  it('are kept for a bounded number of hosts, the least recently used dropped first', async () => {
    const ca = await openCa({ dir: proxyDir(tempDir()) });
    const leaves = new LeafCertificates(ca, { maxEntries: 2 });
    const a = await leaves.leafFor('a.test');
    const b = await leaves.leafFor('b.test');
    expect(await leaves.leafFor('a.test')).toBe(a); // a is now the most recent
    await leaves.leafFor('c.test'); // pushes out b
    expect(await leaves.leafFor('a.test')).toBe(a);
    expect(await leaves.leafFor('b.test')).not.toBe(b);
  });
});
