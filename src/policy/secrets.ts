// Every list of secrets in one place: query parameters whose values are
// redacted in URLs, headers that are never recorded, and the variables whose
// values are never echoed back in a log line.

/** Query parameters whose values are secrets (redacted in URLs on every span). */
export const DEFAULT_REDACTED_QUERY_PARAMS = [
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'key',
  'api_key',
  'apikey',
  'password',
  'passwd',
  'secret',
  'client_secret',
  'signature',
  'sig',
  'code',
  'auth',
  'AWSAccessKeyId',
  'Signature',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'X-Goog-Signature',
];

/** Headers never recorded on a span, whoever configured header capture (lower case). */
export const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'x-auth-token'];

/** Variables whose values are secrets: never echoed back in a problem line. */
export const SECRET_VARIABLES = new Set([
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'SIDETRACE_JAEGER_HEADERS',
  'OTEL_EXPORTER_JAEGER_PASSWORD',
  'NEW_RELIC_LICENSE_KEY',
]);
