// A prototype, for measurement only (bench/http-client.mjs): client spans for
// http.request from Node's http.client.* diagnostics channels (Node >= 22.12)
// instead of upstream's wrapper: a client span with the main stable semconv
// attributes, traceparent injected, ended at the response's end. Not checked
// attribute for attribute against upstream's, and it does not bind the
// response's listeners to the caller's context as upstream does.
const dc = require('node:diagnostics_channel');
const path = require('node:path');
const { context, propagation, trace, SpanKind, SpanStatusCode } = require(path.join(__dirname, '..', '..', 'node_modules', '@opentelemetry', 'api'));

const tracer = trace.getTracer('bench-http-client-channels');
const SPAN = Symbol('span');
const setter = { set: (req, key, value) => req.setHeader(key, value) };

dc.subscribe('http.client.request.created', ({ request }) => {
  const parent = context.active();
  if (!trace.getSpan(parent)) return; // as requireParentforOutgoingSpans
  const host = request.host;
  const port = Number(String(request.getHeader('host') ?? '').split(':')[1]) || 80;
  const span = tracer.startSpan(
    request.method,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': request.method,
        'server.address': host,
        'server.port': port,
        'url.full': `${request.protocol}//${request.getHeader('host')}${request.path}`,
      },
    },
    parent,
  );
  request[SPAN] = span;
  propagation.inject(trace.setSpan(parent, span), request, setter);
});
dc.subscribe('http.client.response.finish', ({ request, response }) => {
  const span = request[SPAN];
  if (!span) return;
  span.setAttribute('http.response.status_code', response.statusCode);
  span.setAttribute('network.protocol.version', response.httpVersion);
  if (response.statusCode >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
  response.once('end', () => span.end());
});
dc.subscribe('http.client.request.error', ({ request, error }) => {
  const span = request[SPAN];
  if (!span) return;
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  span.end();
});
