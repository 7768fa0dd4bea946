/**
 * MongoDB URIs are printed and logged (`store open`, `cannot reach MongoDB at …`, `aibridge
 * migrate`): whatever secret an operator put in one must not be, however it is written.
 */
import { describe, expect, it } from 'vitest';
import { redactUri } from '../../src/store/store.ts';

describe('redactUri', () => {
  it.each([
    ['mongodb://app:s3cret-pw@db.internal:27017/aibridge', 'mongodb://***@db.internal:27017/aibridge'],
    [
      'mongodb+srv://app:s3cret-pw@cluster0.example.net/?retryWrites=true',
      'mongodb+srv://***@cluster0.example.net/?retryWrites=true',
    ],
    // Characters a password should have percent-encoded, but an operator did not.
    ['mongodb://app:s3cr/et-pw@db.internal/aibridge', 'mongodb://***@db.internal/aibridge'],
    ['mongodb://app:s3c@ret-pw@db.internal/aibridge', 'mongodb://***@db.internal/aibridge'],
    // Secrets in the query string.
    [
      'mongodb://db.internal/?tls=true&tlsCertificateKeyFilePassword=s3cret-pw',
      'mongodb://db.internal/?tls=true&tlsCertificateKeyFilePassword=***',
    ],
    [
      'mongodb://db.internal/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:s3cret-pw',
      'mongodb://db.internal/?authMechanism=MONGODB-AWS&authMechanismProperties=***',
    ],
    ['mongodb://127.0.0.1:27017', 'mongodb://127.0.0.1:27017'],
  ])('%s → %s', (uri, shown) => {
    expect(redactUri(uri)).toBe(shown);
    expect(redactUri(uri)).not.toContain('s3c');
  });
});
