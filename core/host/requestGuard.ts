/**
 * Who may talk to `switchyard serve`: pure checks on the Host and Origin headers and on request paths,
 * kept apart from the server so each rule has its own test.
 *
 * - DNS rebinding: a page on attacker.example whose name resolves to 127.0.0.1 sends `Host:
 *   attacker.example` and a matching Origin, so "Origin equals Host" proves nothing. Only Host values
 *   that name this server are accepted: loopback names, the bound address (and, when bound to every
 *   interface, this machine's addresses and host name), and an explicit `--allow-host` list — the rule
 *   Jupyter (`allow_remote_access` / `local_hostnames`) and webpack-dev-server (`allowedHosts`) apply.
 * - Origin: absent (a non-browser client) or an http(s) origin naming an allowed host on this port;
 *   `null`, malformed or foreign origins are refused (a sandboxed iframe or file:// page sends `null`).
 * - Paths: decoded defensively; a malformed escape or an empty segment is a 400, never a throw.
 */
import { isIP } from 'node:net';
import { hostname as osHostname, networkInterfaces } from 'node:os';

/** Loopback only: `localhost` (and `*.localhost`, RFC 6761), 127.0.0.0/8, ::1 and its IPv4-mapped form. */
export function isLoopback(host: string): boolean {
  const h = stripBrackets(host).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.split('.')[0] === '127';
}

/** True for the wildcard addresses (bind to every interface). */
export function isWildcard(host: string): boolean {
  const h = stripBrackets(host);
  return h === '0.0.0.0' || h === '::' || h === '0:0:0:0:0:0:0:0';
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** Split a Host header value into name and port; null when it is not a valid `name[:port]`. */
export function parseHostHeader(value: string | undefined): { name: string; port: number | null } | null {
  if (!value || value.length > 255) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && (port < 1 || port > 65535)) return null;
  return { name: stripBrackets(m[1]!).toLowerCase(), port };
}

export interface HostPolicy {
  /** Lower-case host names and addresses (no brackets) that name this server. */
  names: ReadonlySet<string>;
  /** Any loopback name is accepted (always true: loopback is this machine). */
  loopback: boolean;
  port: number;
}

/** The names this server answers to, given the address it is bound to and `--allow-host` values. */
export function hostPolicy(bindHost: string, port: number, allowHosts: readonly string[] = []): HostPolicy {
  const names = new Set<string>();
  const add = (n: string) => names.add(stripBrackets(n).toLowerCase());
  if (!isWildcard(bindHost)) add(bindHost);
  else {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) add(a.address);
    add(osHostname());
  }
  for (const h of allowHosts) add(h);
  return { names, loopback: true, port };
}

export function hostAllowed(policy: HostPolicy, hostHeader: string | undefined): boolean {
  const h = parseHostHeader(hostHeader);
  if (!h) return false;
  // Browsers omit the port only when it is the scheme's default.
  const port = h.port ?? 80;
  if (port !== policy.port) return false;
  return (policy.loopback && isLoopback(h.name)) || policy.names.has(h.name);
}

/**
 * A WebSocket upgrade's Origin: absent (CLI tools, tests) is fine — the Host check and the token still
 * apply; present, it must be http(s) and name the same host and port as the (already allowed) Host.
 */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (origin === undefined) return true;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false; // 'null', garbage
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  const h = parseHostHeader(hostHeader);
  if (!h) return false;
  const originPort = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return stripBrackets(u.hostname).toLowerCase() === h.name && originPort === (h.port ?? 80);
}

/** The request target's path and query; null when it cannot be parsed or decoded. */
export function parseTarget(target: string | undefined): { path: string; query: URLSearchParams } | null {
  if (!target || target[0] !== '/' || target.length > 8192) return null;
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null; // '/%', '/%E0%A4%A'
  }
  if (path.includes('\0') || path.includes('\\')) return null;
  // '//' and '/a//b': an empty segment names nothing here (and `new URL('//', base)` reads it as a host).
  if (/\/\/+/.test(path)) return null;
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  } catch {
    return null;
  }
  return { path, query };
}
