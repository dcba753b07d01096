// A recorded server span's request attributes: exactly what upstream
// instrumentation-http's getIncomingRequestAttributes gives the same request,
// without its per-request `new URL()` (≈ 6 µs on Node 24, most of the builder's
// cost). The common request (a known method, an origin-form path of plain
// characters, a plain `host` header, no forwarding headers) is built here;
// anything else goes to upstream's builder, so odd requests are never guessed at.
// test/http-server-attributes.test.ts compares both over a matrix of requests.
import type { IncomingMessage } from 'node:http';
import { diag } from '@opentelemetry/api';

type Attributes = Record<string, string | number | undefined>;

// @opentelemetry/instrumentation-http 0.223.0, build/src/utils.js: its server side's attribute builder and helpers.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const upstream = require('@opentelemetry/instrumentation-http/build/src/utils') as {
  getIncomingRequestAttributes(
    request: IncomingMessage,
    options: { component: string; redactedQueryParams?: string[]; enableSyntheticSourceDetection: boolean },
    logger: typeof diag,
  ): Attributes;
  getRemoteClientAddress(request: IncomingMessage): string | null;
  redactQueryString(searchParams: URLSearchParams, paramsToRedact: string[]): string;
};

// Upstream's own list (utils.js KNOWN_METHODS), as sent: a lower-case method is normalised by upstream, so it goes there.
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);
// Upstream's default when no list is configured.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const DEFAULT_REDACTED = (require('@opentelemetry/instrumentation-http/build/src/internal-types') as { DEFAULT_QUERY_STRINGS_TO_REDACT: string[] })
  .DEFAULT_QUERY_STRINGS_TO_REDACT;

// A path the URL parser returns unchanged: origin-form, no characters it percent-encodes or
// treats specially (`\`, `#`, spaces, non-ASCII), no dot segment (`/.`, `%2e`), not `//` (a host).
const PLAIN_PATH = /^\/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
const DOT_SEGMENT = /\/\.|%2e/i;
// A query the URL parser keeps as it is in `search` (no `#`, quotes, `<`, `>`, spaces, non-ASCII).
const PLAIN_QUERY = /^[A-Za-z0-9\-._~!$&()*+,;=:@/?%[\]{}|^`]*$/;
// host[:port] with a DNS name or a dotted IPv4 address; the port as the URL parser accepts it.
const PLAIN_HOST = /^([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::(\d{1,5}))?$/;

/** Hosts already checked against the URL parser (it rejects some: `1.2.3.999`, `09.1.1.1`); bounded. */
const hostValid = new Map<string, boolean>();
const HOST_CACHE_SIZE = 256;

function plainHost(host: string, component: string): boolean {
  let ok = hostValid.get(host);
  if (ok === undefined) {
    try {
      new URL('/', `${component}://${host}`);
      ok = true;
    } catch {
      ok = false;
    }
    if (hostValid.size < HOST_CACHE_SIZE) hostValid.set(host, ok);
  }
  return ok;
}

/** The stable-semconv attributes of an incoming request, equal to upstream's for the same request. */
export function requestAttributes(req: IncomingMessage, component: 'http' | 'https', redactedQueryParams: string[] | undefined): Attributes {
  const headers = req.headers;
  const method = req.method;
  const url = req.url;
  const host = headers.host;
  const match = typeof host === 'string' ? PLAIN_HOST.exec(host) : null;
  if (
    match === null ||
    typeof method !== 'string' ||
    !KNOWN_METHODS.has(method) ||
    typeof url !== 'string' ||
    headers.forwarded !== undefined ||
    headers['x-forwarded-host'] !== undefined ||
    headers['x-forwarded-for'] !== undefined ||
    !plainHost(host as string, component)
  ) {
    return slow(req, component, redactedQueryParams);
  }
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (!PLAIN_PATH.test(path) || DOT_SEGMENT.test(path)) return slow(req, component, redactedQueryParams);
  const query = q === -1 ? '' : url.slice(q + 1);
  if (query !== '' && !PLAIN_QUERY.test(query)) return slow(req, component, redactedQueryParams);

  const socket = req.socket;
  const attributes: Attributes = {
    'http.request.method': method,
    'url.scheme': component,
    'server.address': match[1],
    'network.peer.address': socket.remoteAddress,
    'network.peer.port': socket.remotePort,
    'network.protocol.version': req.httpVersion,
    'user_agent.original': headers['user-agent'],
    'url.path': path,
  };
  if (query !== '') attributes['url.query'] = upstream.redactQueryString(new URLSearchParams(query), redactedQueryParams ?? DEFAULT_REDACTED);
  const client = upstream.getRemoteClientAddress(req);
  if (client != null) attributes['client.address'] = client;
  attributes['server.port'] = Number(match[2] ?? (component === 'http' ? '80' : '443'));
  return attributes;
}

function slow(req: IncomingMessage, component: string, redactedQueryParams: string[] | undefined): Attributes {
  return upstream.getIncomingRequestAttributes(req, { component, redactedQueryParams, enableSyntheticSourceDetection: false }, diag);
}
