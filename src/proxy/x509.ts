// The one door to @peculiar/x509: its dependency container needs the Reflect metadata API, installed first (this order matters).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

// It signs and hashes through WebCrypto; Node's own is the only provider the bridge uses.
x509.cryptoProvider.set(crypto);

export { x509 };
