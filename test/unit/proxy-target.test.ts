import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { mapHosts } from '../../src/proxy/hosts.ts';
import { proxyToken } from '../../src/proxy/proxy-auth.ts';
import { formatHostPort, isOwnAddress, isPrivateAddress, parseHostPort } from '../../src/proxy/target.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('CONNECT targets', () => {
  it.each([
    ['api.anthropic.com:443', { host: 'api.anthropic.com', port: 443 }],
    ['API.Anthropic.COM.:443', { host: 'api.anthropic.com', port: 443 }],
    ['10.1.2.3:8443', { host: '10.1.2.3', port: 8443 }],
    ['[::1]:443', { host: '::1', port: 443 }],
    ['[2001:DB8::1]:443', { host: '2001:db8::1', port: 443 }],
    ['under_score.test:1', { host: 'under_score.test', port: 1 }],
  ])('%s is %o', (text, parsed) => {
    expect(parseHostPort(text)).toEqual(parsed);
    expect(parseHostPort(formatHostPort(parsed))).toEqual(parsed);
  });

  it.each([
    'host',
    'host:',
    'host:0',
    'host:65536',
    'host:+443',
    '[10.1.2.3]:443',
    '[::1:443',
    '1.2.3:443',
    '999.1.1.1:443',
    'a..b:443',
    '.a:443',
    '-a.test:443',
    'a-.test:443',
    'a b:443',
    'a%2eb:443',
    `${'a'.repeat(64)}.test:443`,
    `${'a.'.repeat(127)}a:443`,
  ])('%j is refused', (text) => {
    expect(parseHostPort(text)).toBeUndefined();
  });

  it('a listen address may ask for any free port', () => {
    expect(parseHostPort('127.0.0.1:0', 0)).toEqual({ host: '127.0.0.1', port: 0 });
  });
});

describe('addresses a tunnel may not reach by default', () => {
  it.each([
    '127.0.0.1',
    '127.9.9.9',
    '0.0.0.0',
    '10.0.0.1',
    '172.16.5.5',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '::1',
    '::',
    'fd00::2',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
  ])('%s is private', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['1.1.1.1', '8.8.8.8', '2606:4700::1111', '::ffff:1.1.1.1'])('%s is not', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it('this machine’s own addresses, on every interface, are its own', () => {
    const all = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address));
    for (const address of [...all, '127.0.0.1', '::1', '0.0.0.0']) expect(isOwnAddress(address), address).toBe(true);
    expect(isOwnAddress('1.1.1.1')).toBe(false);
  });
});

describe('the token in Proxy-Authorization', () => {
  it.each([
    [`Basic ${b64('ann:abt_tok')}`, 'abt_tok'],
    [`basic ${b64(':abt_tok')}`, 'abt_tok'],
    [`Basic ${b64('ann:abt:with:colons')}`, 'abt:with:colons'],
    ['Bearer abt_tok', 'abt_tok'],
    ['  bearer   abt_tok  ', 'abt_tok'],
  ])('%s → %s', (header, token) => {
    expect(proxyToken(header)).toBe(token);
  });

  it.each([
    [undefined],
    [''],
    [['Bearer a', 'Bearer b']],
    [`Basic ${b64('abt_tok')}`],
    [`Basic ${b64('ann:')}`],
    ['Basic not*base64'],
    ['Bearer'],
    ['Bearer two words'],
    ['Digest abc'],
  ])('%j → none', (header) => {
    expect(proxyToken(header as string | string[] | undefined)).toBeUndefined();
  });
});

describe('proxy.hosts', () => {
  it('maps a host on port 443, or on the port its key names', () => {
    const map = mapHosts({
      'API.anthropic.com': 'anthropic',
      'llm.test:8443': 'openai',
      '[::1]': 'local',
      '10.0.0.1': 'x',
    });
    expect([...map.byAddress]).toEqual([
      ['api.anthropic.com:443', 'anthropic'],
      ['llm.test:8443', 'openai'],
      ['[::1]:443', 'local'],
      ['10.0.0.1:443', 'x'],
    ]);
    expect([...map.names]).toEqual(['api.anthropic.com', 'llm.test', '::1', '10.0.0.1']);
  });

  it('refuses a key that is not a host', () => {
    expect(() => mapHosts({ 'https://api.openai.com': 'openai' })).toThrow(
      'proxy.hosts: "https://api.openai.com" is not a host name or IP address (with an optional :port)',
    );
  });
});
