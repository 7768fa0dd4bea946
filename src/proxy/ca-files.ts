import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CaError,
  type CertificateAuthority,
  caFromPem,
  generateCaKey,
  issueCaCertificate,
  keyPairOf,
  readPrivateKey,
  signingAlgorithmOf,
} from './ca.ts';

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';

/** The folder of data_dir that holds the bridge's own CA. */
export const proxyDir = (dataDir: string): string => join(dataDir, 'proxy');

/** Where the CA comes from: created on first use in a directory, or the operator's own files. */
export type CaSource = { dir: string } | { certFile: string; keyFile: string };

/**
 * The CA as configured: `proxy.ca_cert` and `proxy.ca_key` when given (both or neither),
 * otherwise the bridge's own under `<data_dir>/proxy/`.
 */
export function caSourceOf(dataDir: string, proxy: { ca_cert?: string; ca_key?: string } = {}): CaSource {
  const { ca_cert: certFile, ca_key: keyFile } = proxy;
  if (certFile && keyFile) return { certFile, keyFile };
  if (certFile || keyFile) {
    throw new CaError(
      `proxy.${certFile ? 'ca_key' : 'ca_cert'}: is required when proxy.${certFile ? 'ca_cert' : 'ca_key'} is set`,
    );
  }
  return { dir: proxyDir(dataDir) };
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CaError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

async function readGiven(file: string, setting: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CaError(`${setting} (${file}): cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

/** Writes a whole file under a name nobody else uses, flushed, 0600. */
async function writePrivate(file: string, text: string): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Publishes `text` as `target` only if `target` does not exist yet: written whole under a
 * temporary name, then hard-linked (link fails rather than replaces). False when another
 * process published first.
 */
async function publish(target: string, text: string): Promise<boolean> {
  const temporary = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writePrivate(temporary, text);
  try {
    await link(temporary, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

/** How long a process that finds ca.key without ca.crt waits for its creator to finish. */
const CERT_WAIT_MS = 2_000;
const CERT_POLL_MS = 25;

async function waitForCertificate(file: string): Promise<string | undefined> {
  for (let waited = 0; waited < CERT_WAIT_MS; waited += CERT_POLL_MS) {
    await delay(CERT_POLL_MS);
    const text = await readIfPresent(file);
    if (text !== undefined) return text;
  }
  return undefined;
}

/**
 * The CA in `dir`, created on first use. The key is published first and is the CA's identity:
 * of processes starting at once, one publishes its key and the others read it. A process
 * finding the key without a certificate waits for its creator, and after a crash between the
 * two steps issues the missing certificate over that key (again published only if absent).
 */
async function loadOrCreate(dir: string, now: Date): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700); // a folder that existed keeps its mode otherwise; the key lives here
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    let [certText, keyText] = await Promise.all([readIfPresent(certFile), readIfPresent(keyFile)]);
    if (certText !== undefined && keyText === undefined) {
      throw new CaError(
        `${certFile}: exists without ${CA_KEY_FILE}; restore the key, or delete ${certFile} to create a new CA (clients must then trust the new one)`,
      );
    }
    if (keyText === undefined) {
      const created = await generateCaKey();
      if (await publish(keyFile, created.pem)) {
        await publish(certFile, await issueCaCertificate(created.keys, now));
      }
      continue; // read back whatever won
    }
    certText ??= await waitForCertificate(certFile);
    if (certText === undefined) {
      const key = readPrivateKey(keyText, keyFile);
      const keys = await keyPairOf(key, keyFile);
      await publish(certFile, await issueCaCertificate(keys, now, signingAlgorithmOf(key, keyFile)));
      continue;
    }
    try {
      return await caFromPem(certText, keyText, { cert: certFile, key: keyFile }, now);
    } catch (err) {
      if (err instanceof CaError) {
        throw new CaError(`${err.message}; delete ${dir} to create a new CA (clients must then trust the new one)`);
      }
      throw err;
    }
  }
  throw new CaError(`${dir}: the CA files kept changing while being read`);
}

/**
 * The proxy's CA: the operator's files (checked: the key matches, it is a CA, it is valid now)
 * or the bridge's own, created on first use in a 0700 folder with a 0600 key.
 */
export async function openCa(source: CaSource, options: { now?: Date } = {}): Promise<CertificateAuthority> {
  const now = options.now ?? new Date();
  if ('dir' in source) return loadOrCreate(source.dir, now);
  const [certText, keyText] = await Promise.all([
    readGiven(source.certFile, 'proxy.ca_cert'),
    readGiven(source.keyFile, 'proxy.ca_key'),
  ]);
  return caFromPem(
    certText,
    keyText,
    { cert: `proxy.ca_cert (${source.certFile})`, key: `proxy.ca_key (${source.keyFile})` },
    now,
  );
}
