// Secrets never leave the process: a real app under the real preload is fed
// tokens in query strings, credentials in headers, cookies and SQL literals
// (against a real PostgreSQL); every span the real OTLP receiver decodes is
// searched for them. Then the exporter's own secrets (OTLP headers, license
// key, URL userinfo and query token) are searched for in everything the app
// and `sidetrace doctor` print, with the collector failing so that error
// lines are printed too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { startOtlpReceiver, OtlpReceiver, ReceivedSpan } from './helpers/otlp-receiver';
import { FIXTURES, ROOT, get, run, startApp, RunningApp } from './helpers/app';
import { useServices } from './helpers/services';

const APP = `${FIXTURES}/secret-app.js`;
const FAST = { OTEL_BSP_SCHEDULE_DELAY: '50' };
const services = useServices({ postgres: true, redis: false });

const secret = (label: string) => `${label}-${crypto.randomBytes(6).toString('hex')}`;
/** The parameters sidetrace redacts by default that the issue names, and two added through SIDETRACE_REDACT_QUERY_PARAMS. */
const DEFAULT_PARAMS = ['token', 'access_token', 'key', 'api_key', 'password', 'secret', 'signature', 'code'];
const CUSTOM_PARAMS = ['session_id', 'otp'];
const QUERY_SECRETS = Object.fromEntries([...DEFAULT_PARAMS, ...CUSTOM_PARAMS].map((p) => [p, secret(`q${p.replace(/_/g, '')}`)]));
const QUERY = `page=2&${Object.entries(QUERY_SECRETS)
  .map(([k, v]) => `${k}=${v}`)
  .join('&')}&sort=asc`;
const REDACTED_QUERY = `page=2&${Object.keys(QUERY_SECRETS)
  .map((k) => `${k}=REDACTED`)
  .join('&')}&sort=asc`;
const AUTHORIZATION = `Bearer ${secret('authz')}`;
const COOKIE = `sid=${secret('cookie')}`;
const SET_COOKIE = secret('setcookie');

let rx: OtlpReceiver;
const apps: RunningApp[] = [];
const servers: http.Server[] = [];
before(async () => {
  rx = await startOtlpReceiver();
});
after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await rx.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

async function app(env: Record<string, string>): Promise<RunningApp> {
  const a = await startApp({ script: APP, env: { ...FAST, ...env } });
  apps.push(a);
  return a;
}

/** Everything a span carries except its timestamps, as text to search. */
function text(spans: ReceivedSpan[]): string {
  return JSON.stringify(
    spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, links: s.links, status: s.status, resource: s.resource })),
  );
}

function assertAbsent(haystack: string, needles: string[], where: string) {
  for (const n of needles) {
    const at = haystack.indexOf(n);
    assert.equal(at, -1, `${where} contains the secret ${n}: …${haystack.slice(Math.max(0, at - 120), at + 60)}…`);
  }
}

describe('secrets in what the app handles', () => {
  it('query secrets are REDACTED on server and client spans; Authorization, Cookie and Set-Cookie are never captured', async () => {
    const upstreamSaw: { url: string; authorization?: string; cookie?: string }[] = [];
    const upstream = http.createServer((req, res) => {
      upstreamSaw.push({ url: req.url ?? '', authorization: req.headers.authorization, cookie: req.headers.cookie });
      res.writeHead(200, { 'set-cookie': `upstream=${SET_COOKIE}` }).end('up');
    });
    servers.push(upstream);
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const target = `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
    const service = 'secret-http';
    const a = await app({
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: service,
      TARGET_URL: target,
      SET_COOKIE_VALUE: SET_COOKIE,
      SIDETRACE_REDACT_QUERY_PARAMS: CUSTOM_PARAMS.join(','),
    });
    const headers = { authorization: AUTHORIZATION, cookie: COOKIE };

    assert.equal((await get(`${a.url}/search?${QUERY}`, headers)).status, 200);
    assert.equal((await get(`${a.url}/outgoing?${QUERY}`, headers)).status, 200);
    const cookieRes = await fetch(`${a.url}/cookie`, { headers });
    assert.match(String(cookieRes.headers.get('set-cookie')), new RegExp(SET_COOKIE), 'the app did send the cookie');
    // The secrets really went through the instrumented code.
    assert.equal(upstreamSaw.length, 2);
    for (const seen of upstreamSaw) {
      assert.ok(seen.url.endsWith(`?${QUERY}`), seen.url);
      assert.equal(seen.authorization, AUTHORIZATION);
      assert.equal(seen.cookie, COOKIE);
    }

    const mine = (s: ReceivedSpan) => s.resource['service.name'] === service;
    const [search] = await rx.waitForSpans((s) => mine(s) && s.kind === 2 && s.attributes['http.route'] === '/search');
    assert.equal(search.attributes['url.query'], REDACTED_QUERY, 'server span url.query');
    const clients = await rx.waitForSpans((s) => mine(s) && s.kind === 3, { count: 2 });
    const byPath = (p: string) => clients.find((s) => String(s.attributes['url.full']).includes(p));
    for (const p of ['/via-http', '/via-fetch']) {
      const span = byPath(p);
      assert.ok(span, `client span for ${p} (got ${clients.map((s) => s.attributes['url.full']).join(', ')})`);
      assert.equal(span!.attributes['url.full'], `${target}${p}?${REDACTED_QUERY}`, `client span url.full (${p})`);
    }
    await rx.waitForSpans((s) => mine(s) && s.kind === 2 && s.attributes['http.route'] === '/cookie');

    const all = text(rx.spans.filter(mine));
    assertAbsent(all, Object.values(QUERY_SECRETS), 'a span');
    assertAbsent(all, [AUTHORIZATION, AUTHORIZATION.slice('Bearer '.length), COOKIE, SET_COOKIE], 'a span');
  });

  it('db.query.text keeps placeholders and drops string, numeric, escaped and dollar-quoted literals (real pg, real PostgreSQL)', async () => {
    const literals = {
      string: secret('str'),
      escaped: secret('esc'),
      dollar: secret('dollar'),
      tagged: secret('tagged'),
      quoted: secret('quoted'),
      param: secret('param'),
    };
    const number = String(4_000_000_000 + crypto.randomInt(1_000_000));
    const statements = [
      { text: `SELECT '${literals.string}' AS s, ${number} AS n`, expect: 'SELECT ? AS s, ? AS n' },
      { text: `SELECT 'it''s ${literals.quoted}' AS q, -12.5e3 AS f, .75 AS g`, expect: 'SELECT ? AS q, ? AS f, ? AS g' },
      { text: `SELECT E'back\\'slash ${literals.escaped}' AS e`, expect: 'SELECT E? AS e' },
      { text: `SELECT $$${literals.dollar}$$ AS d, $t$${literals.tagged}$t$ AS t`, expect: 'SELECT ? AS d, ? AS t' },
      { text: 'SELECT $1::text AS p, $2::int AS q', values: [literals.param, 7], expect: 'SELECT $1::text AS p, $2::int AS q' },
    ];
    const service = 'secret-db';
    const a = await app({
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SERVICE_NAME: service,
      DATABASE_URL: services.databaseUrl,
      SQL_STATEMENTS: JSON.stringify(statements),
    });
    const res = await get(`${a.url}/db`);
    assert.equal(res.status, 200, res.body);
    assert.ok(res.body.includes(literals.string) && res.body.includes(literals.param), 'PostgreSQL really ran the statements');

    const mine = (s: ReceivedSpan) => s.resource['service.name'] === service;
    const queries = await rx.waitForSpans((s) => mine(s) && typeof s.attributes['db.query.text'] === 'string', { count: statements.length });
    assert.deepEqual(
      queries.map((s) => s.attributes['db.query.text']),
      statements.map((s) => s.expect),
    );
    assertAbsent(text(rx.spans.filter(mine)), [...Object.values(literals), number], 'a span');
  });
});

describe('obfuscateSql and the redaction processor (dist modules, in-process)', () => {
  const { obfuscateSql, RedactionProcessor } = require(path.join(ROOT, 'dist', 'lib', 'policy', 'redaction.js'));

  it('edge cases of SQL literals', () => {
    const cases: [string, string][] = [
      ["SELECT 'C:\\', 'after' FROM t WHERE id = $1", 'SELECT ?'], // does \' end the string? Dialect-dependent: both readings are taken
      ["SELECT E'it\\'s', 'next' FROM t", 'SELECT E?, ? FROM t'], // in an E'' string it does not, in any dialect
      ['SELECT "it\'s" FROM "T1" WHERE a = $1', 'SELECT "it\'s" FROM "T1" WHERE a = $1'], // quoted names are not literals
      ["SELECT 'unterminated secret", 'SELECT ?'],
      ['SELECT $$unterminated secret', 'SELECT ?'],
      ["SELECT x'DEADBEEF', B'1010', U&'d\\0061t'", 'SELECT x?, B?, U&?'],
      ['SELECT 0x1f, 1e10, 5., a-1, t1.col2, "Col3" FROM t2 LIMIT 10 OFFSET $3', 'SELECT ?, ?, ?, a-?, t1.col2, "Col3" FROM t2 LIMIT ? OFFSET $3'],
      ["INSERT INTO t(a, b) VALUES ($x$it's$x$, 'b')", 'INSERT INTO t(a, b) VALUES (?, ?)'],
      ['UPDATE t SET n = n+1 WHERE id=7;', 'UPDATE t SET n = n+? WHERE id=?;'],
    ];
    for (const [sql, expected] of cases) assert.equal(obfuscateSql(sql), expected, sql);
  });

  it('property: no quoted or dollar-quoted body survives obfuscateSql', () => {
    const body = fc.stringMatching(/^[a-z0-9 _-]{8,20}$/).filter((s) => /[a-z]{3}/.test(s));
    // Literal forms PostgreSQL accepts; the body is cut in two and joined by what that form allows inside.
    const form = fc.constantFrom(
      { open: "'", close: "'", inside: ['', "''"] },
      { open: "E'", close: "'", inside: ['', "\\'", '\\\\', "''"] },
      { open: '$$', close: '$$', inside: ['', "'", '\\'] },
      { open: '$q$', close: '$q$', inside: ['', "'", '$', '$$'] },
    );
    const junk = fc.constantFrom('', '\\', "''", '$1', '--', '/*', '(', '"x"', '\n', '1.5');
    const literal = fc.tuple(junk, form, body, fc.nat(), junk).map(([pre, f, b, n, post]) => {
      const cut = 4 + (n % (b.length - 7)); // both halves at least 4 characters
      const halves = [b.slice(0, cut), b.slice(cut)];
      return { halves, sql: `${pre} ${f.open}${halves[0]}${f.inside[n % f.inside.length]}${halves[1]}${f.close} ${post}` };
    });
    fc.assert(
      fc.property(fc.array(literal, { minLength: 1, maxLength: 6 }), (literals) => {
        const sql = `SELECT ${literals.map((l) => l.sql).join(', ')}`;
        const out = obfuscateSql(sql);
        // Bodies are lower case: a half with a letter cannot be found in SELECT or in the junk by chance.
        for (const half of literals.flatMap((l) => l.halves).filter((h) => /[a-z]/.test(h)))
          assert.ok(!out.includes(half), `${JSON.stringify(sql)} → ${JSON.stringify(out)}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('scrubs URL attributes of every convention, SQL in db.statement and db.query.text, and captured secret headers', () => {
    const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new RedactionProcessor(['token', 'code', 'api_key']), new SimpleSpanProcessor(exporter)] });
    const span = provider.getTracer('t').startSpan('s', { attributes: { 'http.target': '/cb?code=c0de1&state=ok' } });
    span.setAttributes({
      'http.url': 'https://ops:pa55@api.example/x?TOKEN=t0ken1',
      'url.full': 'https://api.example/x?api%5Fkey=k3y1#frag',
      'url.query': 'next=/home&token=t0ken2',
      'messaging.url': 'amqp://user:pw@mq/?token=t0ken3',
      'db.statement': "SELECT * FROM u WHERE email = 'a@b.c' AND id = 42",
      'db.query.text': 'SELECT $1',
      'http.request.header.authorization': ['Basic c2VjcmV0'],
      'http.request.header.cookie': ['sid=abc'],
      'http.response.header.set-cookie': ['sid=def'],
      'http.request.header.x-api-key': ['k'],
      'http.request.header.accept': ['text/html'],
    });
    span.end();
    const [done] = exporter.getFinishedSpans();
    assert.deepEqual(done.attributes, {
      'http.target': '/cb?code=REDACTED&state=ok',
      'http.url': 'https://REDACTED:REDACTED@api.example/x?TOKEN=REDACTED',
      'url.full': 'https://api.example/x?api%5Fkey=REDACTED#frag',
      'url.query': 'next=/home&token=REDACTED',
      'messaging.url': 'amqp://REDACTED:REDACTED@mq/?token=REDACTED',
      'db.statement': 'SELECT * FROM u WHERE email = ? AND id = ?',
      'db.query.text': 'SELECT $1',
      'http.request.header.authorization': 'REDACTED',
      'http.request.header.cookie': 'REDACTED',
      'http.response.header.set-cookie': 'REDACTED',
      'http.request.header.x-api-key': 'REDACTED',
      'http.request.header.accept': ['text/html'],
    });
  });
});

describe("the exporter's own secrets in what is printed", () => {
  const LICENSE = `eu01xx${crypto.randomBytes(16).toString('hex')}NRAL`;
  const HEADER = secret('hdr');
  const PASSWORD = secret('pw');
  const TOKEN = secret('tok');
  const SECRETS = [LICENSE, HEADER, PASSWORD, TOKEN];
  const base = (endpoint: string) => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_HEADERS: `api-key=${LICENSE},x-extra=${HEADER}`,
    NEW_RELIC_LICENSE_KEY: LICENSE,
    OTEL_SERVICE_NAME: 'secret-export',
    OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
    SIDETRACE_SHUTDOWN_TIMEOUT_MS: '1000',
  });

  async function exercise(a: RunningApp) {
    for (let i = 0; i < 5; i++) assert.equal((await get(`${a.url}/search?page=${i}`)).status, 200);
  }
  async function stopWithTerm(a: RunningApp) {
    a.child.kill('SIGTERM');
    await a.exited;
  }
  async function waitForLine(a: RunningApp, re: RegExp) {
    const deadline = Date.now() + 15_000;
    while (!re.test(a.stderr())) {
      if (Date.now() > deadline) throw new Error(`no line matching ${re}; stderr: ${a.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('collector answering 500, endpoint with userinfo: start-up, failing and shutdown lines show none of them', async () => {
    rx.setMode(500);
    try {
      const a = await app(base(rx.url.replace('http://', `http://ops:${PASSWORD}@`)));
      await exercise(a);
      await waitForLine(a, /is failing \(HTTP 500 Internal Server Error\)/);
      await stopWithTerm(a);
      assert.match(a.stderr(), /→ otlp http\/protobuf http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/v1\/traces \(headers api-key=\*\*\*,x-extra=\*\*\*\)/);
      assertAbsent(a.stdout() + a.stderr(), SECRETS, 'app output');
      const sent = rx.requests.find((r) => r.headers['api-key'] === LICENSE);
      assert.ok(sent, 'the license key was sent as the api-key header');
      assert.equal(sent!.headers['x-extra'], HEADER);
    } finally {
      rx.setMode('ok');
    }
  });

  it('endpoint with a token in its query, and unreachable: the failing lines show none of them', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    for (const endpoint of [`${rx.url}/?token=${TOKEN}`, `http://ops:${PASSWORD}@127.0.0.1:${port}/?token=${TOKEN}`]) {
      const a = await app(base(endpoint));
      await exercise(a);
      await waitForLine(a, /is failing/);
      await stopWithTerm(a);
      assert.match(a.stderr(), /\/v1\/traces\?token=\*\*\*/, 'the token stays in the query, masked');
      assertAbsent(a.stdout() + a.stderr(), SECRETS, 'app output');
    }
  });

  it('malformed values of secret variables are named but not echoed', async () => {
    const a = await app({
      ...base(`htp://ops:${PASSWORD}@collector/?token=${TOKEN}`),
      OTEL_EXPORTER_OTLP_HEADERS: `api-key=${LICENSE},${HEADER}`,
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: `=${HEADER}`,
      SIDETRACE_ENABLED: 'true',
    });
    await exercise(a);
    await a.stop();
    assert.match(a.stderr(), /OTEL_EXPORTER_OTLP_ENDPOINT="htp:\/\/\*\*\*@collector\/\?token=\*\*\*" is not an http\(s\) URL/);
    assert.match(a.stderr(), /OTEL_EXPORTER_OTLP_HEADERS has 1 malformed entry/);
    assert.match(a.stderr(), /OTEL_EXPORTER_OTLP_TRACES_HEADERS has 1 malformed entry/);
    assertAbsent(a.stdout() + a.stderr(), SECRETS, 'app output');
  });

  it('SIDETRACE_STRICT=true refusing to start names the variable, not the secret', async () => {
    const a = await startApp({
      script: APP,
      env: { ...base(rx.url), OTEL_EXPORTER_OTLP_HEADERS: `api-key=${LICENSE},${HEADER}`, SIDETRACE_STRICT: 'true' },
      waitListening: false,
    });
    apps.push(a);
    assert.equal((await a.exited).code, 78);
    assert.match(a.stderr(), /OTEL_EXPORTER_OTLP_HEADERS/);
    assertAbsent(a.stdout() + a.stderr(), SECRETS, 'app output');
  });

  it('sidetrace doctor, healthy and failing, prints none of them', async () => {
    for (const mode of ['ok', 500] as const) {
      rx.setMode(mode);
      try {
        const r = await run(process.execPath, [path.join(ROOT, 'dist', 'cli', 'index.js'), 'doctor'], {
          env: { ...base(rx.url.replace('http://', `http://ops:${PASSWORD}@`)), SIDETRACE_COLLECTOR_HEALTH_URL: `${rx.url}/?token=${TOKEN}` },
        });
        assert.match(r.stdout, mode === 'ok' ? /^ok export: /m : /^FAIL export: .*HTTP 500/m);
        assertAbsent(r.stdout + r.stderr, SECRETS, `doctor output (${mode})`);
      } finally {
        rx.setMode('ok');
      }
    }
  });
});
