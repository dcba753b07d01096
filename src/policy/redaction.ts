// Secrets never leave the process: a span processor that rewrites, while the
// span is still writable, every attribute that can carry one.
// - URLs: values of secret query parameters become REDACTED, userinfo too;
// - SQL: literal values become `?` (placeholders stay);
// - headers: authorization, cookie and friends are replaced, whoever captured them.
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SECRET_HEADERS } from './secrets';
import { ATTR_DB_QUERY_TEXT, ATTR_DB_STATEMENT, ATTR_HTTP_TARGET, ATTR_HTTP_URL, ATTR_MESSAGING_URL, ATTR_URL_FULL, ATTR_URL_QUERY } from '../tracing/semconv';

export const REDACTED = 'REDACTED';

const URL_ATTRIBUTES = [ATTR_URL_FULL, ATTR_HTTP_URL, ATTR_HTTP_TARGET, ATTR_URL_QUERY, ATTR_MESSAGING_URL];
const SQL_ATTRIBUTES = [ATTR_DB_STATEMENT, ATTR_DB_QUERY_TEXT];
/** `http.request.header.<name>` / `http.response.header.<name>` for every secret header, `-` or `_` in the name. */
const SECRET_HEADER = new RegExp(`^http\\.(?:request|response)\\.header\\.(?:${SECRET_HEADERS.map((h) => h.replace(/-/g, '[-_]')).join('|')})$`, 'i');

/** Numbers that are not part of a name or a `$1` placeholder: decimal, `.5`, exponent, hex. */
const SQL_NUMBER = /(?<![\w$.])-?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)(?![\w$])/g;
const DOLLAR_TAG = /\$(?:[A-Za-z_]\w*)?\$/y;

/**
 * Where the string literals are, read one way: `[start, end)` of each `'…'`
 * string (unterminated: to the end) and `$tag$…$tag$` body; `"…"` names are
 * skipped. With `backslashEscapes`, `\'` does not end a string (MySQL, and
 * PostgreSQL's E'…'); without, it does (standard SQL).
 */
function literalRanges(sql: string, backslashEscapes: boolean): [number, number][] {
  const ranges: [number, number][] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === '"') {
      const close = sql.indexOf('"', i + 1);
      i = close === -1 ? sql.length : close + 1;
      continue;
    }
    if (c === '$') {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(sql)?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        const end = close === -1 ? sql.length : close + tag.length;
        ranges.push([i, end]);
        i = end;
        continue;
      }
    }
    if (c === "'") {
      const eString = /[eE]/.test(sql[i - 1] ?? '') && !/[\w$]/.test(sql[i - 2] ?? '');
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '\\' && (backslashEscapes || eString)) j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j++] === "'") break;
      }
      const end = Math.min(j, sql.length);
      ranges.push([i, end]);
      i = end;
      continue;
    }
    i++;
  }
  return ranges;
}

/**
 * Literal values become `?`; placeholders (`$1`, `?`) and names stay. Whether
 * `\'` ends a string depends on the dialect, and a wrong guess would leave the
 * next literal outside quotes; so what is a literal under either reading is
 * replaced (at worst, more than needed).
 */
export function obfuscateSql(sql: string): string {
  const ranges = [...literalRanges(sql, false), ...literalRanges(sql, true)].sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [start, end] of ranges) {
    if (end <= at) continue;
    if (start >= at) out += `${sql.slice(at, start).replace(SQL_NUMBER, '?')}?`;
    at = end;
  }
  return out + sql.slice(at).replace(SQL_NUMBER, '?');
}

export function redactQuery(value: string, secretParams: Set<string>): string {
  // No userinfo (`@`) and no query (`?`, or `=` in a bare one): nothing to do. Most values, so kept cheap.
  if (!value.includes('?') && !value.includes('@') && !value.includes('=')) return value;
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

/**
 * Statements repeat (a parameterised query is the same text every time), so
 * those with nothing to obfuscate are remembered. Statements that held
 * literals are never kept.
 */
const CLEAN_SQL_CACHE_SIZE = 256;
const CLEAN_SQL_MAX_LENGTH = 2048;

/** `h` or `H`: a secret header attribute starts with `http.`, so most keys are ruled out by one char. */
const startsWithH = (key: string) => (key.charCodeAt(0) | 0x20) === 0x68;

export class RedactionProcessor implements SpanProcessor {
  private readonly secretParams: Set<string>;
  private readonly cleanSql = new Set<string>();

  constructor(queryParams: string[]) {
    this.secretParams = new Set(queryParams.map((p) => p.toLowerCase()));
  }

  private scrub(span: Span): void {
    const attrs = span.attributes;
    for (const key of URL_ATTRIBUTES) {
      const v = attrs[key];
      if (typeof v === 'string') {
        // url.query is a bare query string, which may hold a `/` (`next=/home&token=…`): never mistake it for a path.
        const r = key === ATTR_URL_QUERY ? redactQuery(`?${v}`, this.secretParams).slice(1) : redactQuery(v, this.secretParams);
        if (r !== v) span.setAttribute(key, r);
      }
    }
    for (const key of SQL_ATTRIBUTES) {
      const v = attrs[key];
      if (typeof v === 'string' && !this.cleanSql.has(v)) {
        const r = obfuscateSql(v);
        if (r !== v) span.setAttribute(key, r);
        else if (v.length <= CLEAN_SQL_MAX_LENGTH) {
          if (this.cleanSql.size >= CLEAN_SQL_CACHE_SIZE) this.cleanSql.clear();
          this.cleanSql.add(v);
        }
      }
    }
    for (const key of Object.keys(attrs)) {
      if (startsWithH(key) && SECRET_HEADER.test(key)) span.setAttribute(key, REDACTED);
    }
  }

  // Nothing reads a span's attributes before it ends (the other processors read them in onEnd, the export after
  // it), so one scrub, when the span is about to freeze, covers what was set at start and what was set later.
  onStart(_span: Span, _parentContext: Context): void {}

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
