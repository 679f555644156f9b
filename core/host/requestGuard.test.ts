import { describe, expect, it } from 'vitest';
import { hostAllowed, hostPolicy, isLoopback, originAllowed, parseHostHeader, parseTarget } from './requestGuard.js';

describe('isLoopback', () => {
  it('accepts loopback addresses and names only', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'app.localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
    // The old rule (startsWith('127.')) accepted a DNS name an attacker can own.
    for (const h of ['127.0.0.1.attacker.example', '127.evil', '10.0.0.1', '0.0.0.0', 'localhost.attacker.example', '']) {
      expect(isLoopback(h), h).toBe(false);
    }
  });
});

describe('Host header policy (DNS rebinding)', () => {
  const p = hostPolicy('127.0.0.1', 7860, ['workbench.lab.example']);
  it('accepts names of this server on its port', () => {
    for (const h of ['127.0.0.1:7860', 'localhost:7860', '[::1]:7860', 'LOCALHOST:7860', 'workbench.lab.example:7860']) expect(hostAllowed(p, h), h).toBe(true);
  });
  it('refuses a rebinding name, another port, and junk', () => {
    for (const h of ['attacker.example:7860', 'attacker.example', '127.0.0.1:80', '127.0.0.1', undefined, '', 'a b:7860', '[::1', '127.0.0.1:99999', 'x'.repeat(300)]) {
      expect(hostAllowed(p, h), String(h)).toBe(false);
    }
  });
  it('names the bound address when bound to one', () => {
    expect(hostAllowed(hostPolicy('10.1.2.3', 80), '10.1.2.3')).toBe(true);
    expect(hostAllowed(hostPolicy('10.1.2.3', 80), '10.1.2.4')).toBe(false);
  });
  it('parses Host values', () => {
    expect(parseHostHeader('[::1]:8080')).toEqual({ name: '::1', port: 8080 });
    expect(parseHostHeader('Example.COM')).toEqual({ name: 'example.com', port: null });
    expect(parseHostHeader('example.com:0')).toBeNull();
  });
});

describe('Origin of a WebSocket upgrade', () => {
  it('must be this server, or absent', () => {
    expect(originAllowed(undefined, '127.0.0.1:7860')).toBe(true);
    expect(originAllowed('http://127.0.0.1:7860', '127.0.0.1:7860')).toBe(true);
    expect(originAllowed('http://localhost:7860', 'localhost:7860')).toBe(true);
  });
  it('refuses null, malformed, foreign and non-http origins without throwing', () => {
    for (const o of ['null', '', '::::', 'http://', 'http://evil.example', 'http://127.0.0.1:7861', 'file://', 'chrome-extension://abc', 'http://127.0.0.1:7860.evil']) {
      expect(originAllowed(o, '127.0.0.1:7860'), o).toBe(false);
    }
  });
});

describe('request targets', () => {
  it('decodes good paths and keeps the query', () => {
    expect(parseTarget('/app.js')?.path).toBe('/app.js');
    expect(parseTarget('/ws?token=a%20b')?.query.get('token')).toBe('a b');
    expect(parseTarget('/runs/%C3%A9')?.path).toBe('/runs/é');
  });
  it('answers null (400) for what used to throw: //, /%, a truncated UTF-8 escape', () => {
    for (const t of ['//', '/%', '/%E0%A4%A', '/a//b', 'http://x/', '*', '', undefined, '/%00', '/a\\..\\b']) expect(parseTarget(t), String(t)).toBeNull();
  });
});
