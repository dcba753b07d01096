// Masking for sidetrace's own lines: values that come from the environment
// or from errors are made single-line, and secrets in them hidden.

/** Control characters and line separators escaped: a value echoed into a log line must not break it. */
export function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The OTLP headers with every value masked, for logs and `doctor`. */
export function maskedHeaders(headers: Record<string, string>): string {
  return Object.keys(headers)
    .map((k) => `${k}=***`)
    .join(',');
}

/** A URL with any userinfo and query string values masked, for logs. */
export function maskedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = '***';
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
