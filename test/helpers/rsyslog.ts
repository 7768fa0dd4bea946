import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { waitUntil } from './process.ts';

/** rsyslogd's path, or undefined when it is not installed (`apt-get install -y rsyslog`). */
export function findRsyslogd(): string | undefined {
  for (const candidate of ['/usr/sbin/rsyslogd', '/sbin/rsyslogd']) if (existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v rsyslogd'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether rsyslog's OpenSSL network driver is installed (`apt-get install -y rsyslog-openssl`). */
export function rsyslogHasOpenssl(): boolean {
  return ['/usr/lib/x86_64-linux-gnu/rsyslog', '/usr/lib/aarch64-linux-gnu/rsyslog', '/usr/lib/rsyslog'].some((dir) =>
    existsSync(join(dir, 'lmnsd_ossl.so')),
  );
}

export interface RsyslogTls {
  ca: string;
  cert: string;
  key: string;
}

/** One message as rsyslog parsed and wrote it. */
export interface Received {
  app: string;
  msgid: string;
  procid: string;
  hostname: string;
  time: string;
  sd: string;
  event: any;
}

/**
 * A real rsyslogd, our own process: imtcp on a loopback port (TLS through its OpenSSL driver when
 * asked), every message from app `aibridge` written by omfile to a file in `dir`, one line each
 * with the header fields rsyslog parsed. Nothing of the system's: no system paths, no sockets.
 */
export class Rsyslog {
  readonly port: number;
  readonly out: string;
  readonly #binary: string;
  readonly #conf: string;
  readonly #pidFile: string;
  #child: ChildProcess | undefined;
  #stderr = '';

  constructor(binary: string, dir: string, port: number, tls?: RsyslogTls) {
    this.#binary = binary;
    this.port = port;
    this.out = join(dir, 'received.log');
    this.#conf = join(dir, 'rsyslog.conf');
    this.#pidFile = join(dir, 'rsyslogd.pid');
    const driver = tls
      ? `global(DefaultNetstreamDriver="ossl" DefaultNetstreamDriverCAFile="${tls.ca}" DefaultNetstreamDriverCertFile="${tls.cert}" DefaultNetstreamDriverKeyFile="${tls.key}")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")`
      : 'module(load="imtcp")';
    writeFileSync(
      this.#conf,
      `global(workDirectory="${dir}" maxMessageSize="4m")
${driver}
input(type="imtcp" address="127.0.0.1" port="${port}")
template(name="audit" type="string" string="%app-name% %msgid% %procid% %hostname% %timereported:::date-rfc3339% %structured-data% %msg%\\n")
if $app-name == "aibridge" then {
  action(type="omfile" file="${this.out}" template="audit")
}
`,
    );
  }

  /** Starts it (again) and waits until it accepts connections. */
  async start(): Promise<void> {
    this.#stderr = '';
    const child = spawn(this.#binary, ['-n', '-f', this.#conf, '-i', this.#pidFile], { stdio: 'pipe' });
    child.stdout?.resume();
    child.stderr?.on('data', (chunk) => {
      this.#stderr += chunk;
    });
    this.#child = child;
    try {
      await waitUntil(async () => {
        if (child.exitCode !== null) throw new Error(`rsyslogd exited ${child.exitCode}: ${this.#stderr}`);
        return this.#accepts();
      }, 15_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  #accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  /** Stops it: SIGTERM, or SIGKILL for a crash (what it had not written yet is lost). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** Every message it wrote, in order. */
  received(): Received[] {
    if (!existsSync(this.out)) return [];
    return readFileSync(this.out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [app, msgid, procid, hostname, time, sd] = line.split(' ', 6);
        const header = [app, msgid, procid, hostname, time, sd].join(' ').length + 1;
        return {
          app,
          msgid,
          procid,
          hostname,
          time,
          sd,
          event: JSON.parse(line.slice(header)),
        } as Received;
      });
  }
}
