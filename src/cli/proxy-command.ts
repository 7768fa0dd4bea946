import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { CaError } from '../proxy/ca.ts';
import { caSourceOf, openCa } from '../proxy/ca-files.ts';
import { CONFIG_FLAG, discoverConfig, ExitError, NO_CONFIG } from './common.ts';

/**
 * aibridge proxy ca: the intercepting proxy's CA certificate on stdout, for trust stores
 * (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, REQUESTS_CA_BUNDLE, the OS store). The CA is the one
 * the server uses: proxy.ca_cert, or the bridge's own under data_dir, created here if absent.
 */
export function proxyCommand(program: Command): void {
  const proxy = program.command('proxy').description('the intercepting HTTPS proxy');
  proxy
    .command('ca')
    .description("print the proxy CA's certificate (PEM), creating the CA under data_dir on first use")
    .option(...CONFIG_FLAG)
    .action(async (opts: { config?: string }) => {
      // Found as every command finds it (README "Finding the configuration"): the bridge running here included.
      const { file, config } = discoverConfig(opts.config);
      // Without a config, only a data_dir a bridge already made here is used: a new CA in a stray directory helps nobody.
      if (!file && !existsSync(config.data_dir)) throw new ExitError(NO_CONFIG, 2);
      try {
        const ca = await openCa(caSourceOf(config.data_dir, config.proxy));
        process.stdout.write(ca.certificatePem);
        process.stderr.write(`AI Bridge proxy CA, SHA-256 ${ca.fingerprint}\n`);
      } catch (err) {
        if (err instanceof CaError) throw new ExitError(err.message, 2);
        throw err;
      }
    });
}
