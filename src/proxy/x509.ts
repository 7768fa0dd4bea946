// The one door to @peculiar/x509: the Reflect API it needs is installed first (this order matters).
import './reflect-metadata.ts';
import * as x509 from '@peculiar/x509';

// It signs and hashes through WebCrypto; Node's own is the only provider the bridge uses.
x509.cryptoProvider.set(crypto);

export { x509 };
