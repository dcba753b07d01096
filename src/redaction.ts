// Secrets never leave the process: a span processor that rewrites, while the
// span is still writable, every attribute that can carry one.
// - URLs: values of secret query parameters become REDACTED, userinfo too;
// - SQL: literal values become `?` (placeholders stay);
// - headers: authorization, cookie and friends are replaced, whoever captured them.
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';

export const REDACTED = 'REDACTED';

const URL_ATTRIBUTES = ['url.full', 'http.url', 'http.target', 'url.query', 'messaging.url'];
const SQL_ATTRIBUTES = ['db.statement', 'db.query.text'];
const SECRET_HEADER = /^(?:http\.(?:request|response)\.header\.)(?:authorization|proxy[-_]authorization|cookie|set[-_]cookie|x[-_]api[-_]key|api[-_]key|x[-_]auth[-_]token)$/i;

/** `'…'` strings (with '' escapes, or unterminated), `$tag$…$tag$` bodies, and numbers not part of a name or `$1`. */
const SQL_LITERAL = /'(?:[^']|'')*(?:'|$)|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$|(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b/g;

export function obfuscateSql(sql: string): string {
  return sql.replace(SQL_LITERAL, '?');
}

export function redactQuery(value: string, secretParams: Set<string>): string {
  // userinfo in absolute URLs
  let out = value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@?#]*@/i, `$1${REDACTED}:${REDACTED}@`);
  const q = out.indexOf('?');
  const queryOnly = q === -1 && !out.includes('/') && out.includes('=');
  if (q === -1 && !queryOnly) return out;
  const head = queryOnly ? '' : out.slice(0, q + 1);
  const rest = queryOnly ? out : out.slice(q + 1);
  const hash = rest.indexOf('#');
  const query = hash === -1 ? rest : rest.slice(0, hash);
  const tail = hash === -1 ? '' : rest.slice(hash);
  const parts = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq === -1) return pair;
    let name = pair.slice(0, eq);
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // keep the raw name
    }
    return secretParams.has(name.toLowerCase()) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
  });
  out = head + parts.join('&') + tail;
  return out;
}

export class RedactionProcessor implements SpanProcessor {
  private readonly secretParams: Set<string>;

  constructor(queryParams: string[]) {
    this.secretParams = new Set(queryParams.map((p) => p.toLowerCase()));
  }

  private scrub(span: Span): void {
    const attrs = span.attributes;
    for (const key of URL_ATTRIBUTES) {
      const v = attrs[key];
      if (typeof v === 'string') {
        const r = redactQuery(v, this.secretParams);
        if (r !== v) span.setAttribute(key, r);
      }
    }
    for (const key of SQL_ATTRIBUTES) {
      const v = attrs[key];
      if (typeof v === 'string') {
        const r = obfuscateSql(v);
        if (r !== v) span.setAttribute(key, r);
      }
    }
    for (const key of Object.keys(attrs)) {
      if (SECRET_HEADER.test(key)) span.setAttribute(key, REDACTED);
    }
  }

  onStart(span: Span, _parentContext: Context): void {
    this.scrub(span);
  }

  // Attributes set after start (response headers, late URLs) are scrubbed before the span freezes.
  onEnding(span: Span): void {
    this.scrub(span);
  }

  onEnd(_span: ReadableSpan): void {}

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
