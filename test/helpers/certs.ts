import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Whether the openssl command is there to make test certificates. */
export function hasOpensslCli(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A private CA and a server certificate it signed for `dnsName` (and nothing else), as PEM
 * files in `dir` (made with the openssl command): what a SIEM's TLS syslog listener is given.
 */
export function serverCertificates(dir: string, dnsName: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca-key.pem'),
    '-out',
    file('ca.pem'),
    '-days',
    '30',
    '-subj',
    '/CN=Audit Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...ec, '-keyout', file('server-key.pem'), '-out', file('server.csr'), '-subj', `/CN=${dnsName}`);
  writeFileSync(
    file('server.ext'),
    `subjectAltName=DNS:${dnsName}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca-key.pem'),
    '-CAcreateserial',
    '-out',
    file('server.pem'),
    '-days',
    '30',
    '-extfile',
    file('server.ext'),
  );
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server-key.pem') };
}
