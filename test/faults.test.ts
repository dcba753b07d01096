// The SDK under collector faults: a real express app under the real preload,
// loaded from here, exporting to a real OTLP receiver that fails on cue.
// Whatever the collector does, the app keeps answering, its memory stays
// flat, it says one line per outage (and how many spans it cost), export
// recovers when the collector does, and SIGTERM exits within the bound.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startOtlpReceiver, OtlpReceiver, ReceiverMode, ReceivedSpan } from './helpers/otlp-receiver';
import { FIXTURES, PRELOAD, get, startApp, RunningApp } from './helpers/app';

const APP = `${FIXTURES}/fault-app.js`;
const SHUTDOWN_BOUND_MS = 1000;
/** Small queue and short timeouts so that a few seconds of load overflow the queue and outages show quickly. */
const SMALL_QUEUE = {
  OTEL_BSP_SCHEDULE_DELAY: '100',
  OTEL_BSP_MAX_QUEUE_SIZE: '200',
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50',
  OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
  SIDETRACE_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_BOUND_MS),
};
const MB = 1024 * 1024;
/**
 * Retained heap (after a full GC) of the traced app settles at ~15 MB under
 * load whatever the collector does (2–4 MB above its idle figure); with the
 * queue bound lifted, a hanging collector adds ~2.7 MB/s (bench/faults.mjs).
 * Per fault (4 s of load), a generous bound on growth:
 */
const HEAP_GROWTH_LIMIT = 8 * MB;
/** RSS moves with load alone (~45 MB healthy); this only catches gross growth. */
const RSS_GROWTH_LIMIT = 160 * MB;

const apps: RunningApp[] = [];
const receivers: OtlpReceiver[] = [];
after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await Promise.all(receivers.map((r) => r.close().catch(() => {})));
});

async function receiver(port?: number): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver({ port });
  receivers.push(r);
  return r;
}

async function closeReceiver(r: OtlpReceiver): Promise<void> {
  receivers.splice(receivers.indexOf(r), 1);
  await r.close();
}

/** A loopback port nobody listens on (until a receiver is started on it). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function app(endpoint: string, env: Record<string, string> = {}): Promise<RunningApp> {
  const a = await startApp({
    script: APP,
    nodeArgs: ['--expose-gc', '--require', PRELOAD],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'fault-svc', ...SMALL_QUEUE, ...env },
  });
  apps.push(a);
  return a;
}

/** `concurrency` clients request `path` back to back (or `pauseMs` apart) until `ms` have passed; every status is counted. */
async function load(a: RunningApp, ms: number, path = '/work', concurrency = 6, pauseMs = 0): Promise<{ total: number; statuses: Record<number, number> }> {
  const statuses: Record<number, number> = {};
  let total = 0;
  const deadline = Date.now() + ms;
  const client = async () => {
    while (Date.now() < deadline) {
      const { status } = await get(`${a.url}${path}`);
      statuses[status] = (statuses[status] ?? 0) + 1;
      total++;
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { total, statuses };
}

async function memory(a: RunningApp): Promise<{ rss: number; heapUsed: number }> {
  return JSON.parse((await get(`${a.url}/rss`)).body);
}

async function stats(a: RunningApp): Promise<{ exported: number; failed: number; droppedQueueFull: number }> {
  return JSON.parse((await get(`${a.url}/stats`)).body)[0];
}

/** The figures of one fault run, for the test log (and the README). */
function figures(
  requests: number,
  dropped: number,
  before: { rss: number; heapUsed: number },
  after: { rss: number; heapUsed: number },
  exitMs: number,
): string {
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${requests} requests in 4 s, all 200; ${dropped} spans dropped and counted; heap ${mb(after.heapUsed - before.heapUsed)}, rss ${mb(after.rss - before.rss)}; exit ${exitMs} ms after SIGTERM`;
}

function lines(a: RunningApp, re: RegExp): string[] {
  return a
    .stderr()
    .split('\n')
    .filter((l) => re.test(l));
}
const FAILING = /^sidetrace: export to otlp .* is failing \(/;
const RECOVERED = /^sidetrace: export to otlp .* recovered after [\d.]+s; (\d+) spans were dropped during the outage$/;

async function waitFor(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const query = (s: ReceivedSpan) => String(s.attributes['url.query'] ?? '');

/** Requests tagged `phase` until one of their server spans reaches `rx`: proof that export works again. */
async function trickleUntilExported(a: RunningApp, rx: OtlpReceiver, phase: string): Promise<ReceivedSpan> {
  const mine = (s: ReceivedSpan) => s.kind === 2 && query(s).includes(`phase=${phase}`);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    assert.equal((await get(`${a.url}/work?phase=${phase}`)).status, 200);
    const found = rx.spans.find(mine);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no span of phase ${phase} arrived; stderr: ${a.stderr()}`);
}

interface Fault {
  name: string;
  /** Puts the collector into the fault; returns the receiver that will come back. */
  begin(port: number, current?: OtlpReceiver): Promise<OtlpReceiver | undefined>;
  /** Ends the fault; returns the receiver now answering 200. */
  end(port: number, current?: OtlpReceiver): Promise<OtlpReceiver>;
}

const modeFault = (name: string, mode: ReceiverMode): Fault => ({
  name,
  async begin(_port, current) {
    current!.setMode(mode);
    return current;
  },
  async end(_port, current) {
    current!.setMode('ok');
    return current!;
  },
});

/** The collector process is gone: nothing listens; later a new one listens on the same port. */
const goneFault: Fault = {
  name: 'goes away (closed, then a new receiver on the same port)',
  async begin(_port, current) {
    if (current) await closeReceiver(current);
    return undefined;
  },
  end: (port) => receiver(port),
};

const FAULTS: Fault[] = [
  goneFault,
  modeFault('answers 500', 500),
  modeFault('answers 503 (Retry-After: 1)', 503),
  modeFault('answers 429 (Retry-After: 1)', 429),
  modeFault('accepts and never answers', 'hang'),
  modeFault('resets every connection', 'down'),
];

describe('the app under collector faults', () => {
  it('collector unreachable at start: serves, reports one outage, recovers when the collector appears, exits on SIGTERM within the bound', async (t) => {
    const port = await freePort();
    const a = await app(`http://127.0.0.1:${port}`);
    await load(a, 500); // warm-up
    const before = await memory(a);
    const phase1 = await load(a, 4000);
    assert.deepEqual(Object.keys(phase1.statuses), ['200'], `statuses under fault: ${JSON.stringify(phase1.statuses)}`);
    const after1 = await memory(a);
    assert.ok(after1.heapUsed - before.heapUsed < HEAP_GROWTH_LIMIT, `heap grew ${after1.heapUsed - before.heapUsed} bytes`);
    assert.ok(after1.rss - before.rss < RSS_GROWTH_LIMIT, `rss grew ${after1.rss - before.rss} bytes`);
    const lost = await stats(a);

    const rx = await receiver(port);
    await trickleUntilExported(a, rx, 'recovered');
    await waitFor('the recovered line', () => lines(a, RECOVERED).length === 1);
    assert.equal(lines(a, FAILING).length, 1, a.stderr());
    const dropped = Number(RECOVERED.exec(lines(a, RECOVERED)[0])![1]);
    assert.ok(dropped > 0 && dropped >= lost.failed + lost.droppedQueueFull, `recovered line counts ${dropped}; stats before recovery ${JSON.stringify(lost)}`);

    const sent = Date.now();
    a.child.kill('SIGTERM');
    const { signal, at } = await a.exited;
    assert.equal(signal, 'SIGTERM');
    assert.ok(at - sent < SHUTDOWN_BOUND_MS + 2000, `exited ${at - sent} ms after SIGTERM`);
    t.diagnostic(figures(phase1.total, dropped, before, after1, at - sent));
    assert.deepEqual(
      a
        .stderr()
        .split('\n')
        .filter((l) => l && !l.startsWith('sidetrace: ')),
      [],
      'nothing but sidetrace lines on stderr',
    );
  });

  for (const fault of FAULTS) {
    it(`collector ${fault.name} mid-load: every response 200, memory flat, one line per outage with its count, recovery, bounded SIGTERM`, async (t) => {
      let rx = await receiver();
      const port = rx.port;
      const a = await app(rx.url);
      await load(a, 500); // warm-up, healthy
      await rx.waitForSpans((s) => s.kind === 2);
      const before = await memory(a);

      // Outage 1, under load.
      let current = await fault.begin(port, rx);
      const phase1 = await load(a, 4000);
      assert.deepEqual(Object.keys(phase1.statuses), ['200'], `statuses under fault: ${JSON.stringify(phase1.statuses)}`);
      const after1 = await memory(a);
      assert.ok(after1.heapUsed - before.heapUsed < HEAP_GROWTH_LIMIT, `heap grew ${after1.heapUsed - before.heapUsed} bytes`);
      assert.ok(after1.rss - before.rss < RSS_GROWTH_LIMIT, `rss grew ${after1.rss - before.rss} bytes`);
      const lost = await stats(a);
      assert.ok(lost.failed + lost.droppedQueueFull > 0, `the fault cost spans: ${JSON.stringify(lost)}`);

      // Recovery: spans made after it arrive, and one line says what the outage cost.
      rx = await fault.end(port, current);
      await trickleUntilExported(a, rx, 'recovered');
      await waitFor('the recovered line', () => lines(a, RECOVERED).length === 1);
      assert.equal(
        lines(a, FAILING).length,
        1,
        `one failing line for outage 1 (${phase1.total} requests, ${lost.failed + lost.droppedQueueFull} spans lost):\n${a.stderr()}`,
      );
      const dropped = Number(RECOVERED.exec(lines(a, RECOVERED)[0])![1]);
      assert.ok(dropped >= lost.failed + lost.droppedQueueFull, `recovered line counts ${dropped}; stats before recovery ${JSON.stringify(lost)}`);

      // Outage 2: one more line, and SIGTERM in the middle of it exits within the bound.
      current = await fault.begin(port, rx);
      await load(a, 1500);
      await waitFor('the second failing line', () => lines(a, FAILING).length === 2, 5000);
      const sent = Date.now();
      a.child.kill('SIGTERM');
      const { signal, at } = await a.exited;
      assert.equal(signal, 'SIGTERM');
      assert.ok(at - sent < SHUTDOWN_BOUND_MS + 2000, `exited ${at - sent} ms after SIGTERM`);
      assert.equal(lines(a, FAILING).length, 2, a.stderr());
      assert.deepEqual(
        a
          .stderr()
          .split('\n')
          .filter((l) => l && !l.startsWith('sidetrace: ')),
        [],
        'nothing but sidetrace lines on stderr',
      );
      t.diagnostic(figures(phase1.total, dropped, before, after1, at - sent));
    });
  }

  it('a blip shorter than OTEL_EXPORTER_OTLP_TIMEOUT loses nothing: the exporter retries (503 and connection resets)', async (t) => {
    for (const mode of [503, 'down'] as const) {
      const rx = await receiver();
      const a = await app(rx.url, { OTEL_EXPORTER_OTLP_TIMEOUT: '10000', OTEL_BSP_MAX_QUEUE_SIZE: '2048', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '512' });
      rx.setMode(mode);
      const sent = await load(a, 1500, `/work?blip=${mode}`, 2, 20);
      assert.deepEqual(Object.keys(sent.statuses), ['200']);
      rx.setMode('ok');
      const arrived = await rx.waitForSpans((s) => s.kind === 2 && query(s) === `blip=${mode}`, { count: sent.total, timeoutMs: 15_000 });
      assert.equal(arrived.length, sent.total, `every request's server span arrived (${mode})`);
      const st = await stats(a);
      assert.equal(st.failed + st.droppedQueueFull, 0, `nothing lost: ${JSON.stringify(st)}`);
      assert.equal(lines(a, FAILING).length, 0, a.stderr());
      t.diagnostic(`${mode} for 1.5 s: ${sent.total} requests, ${arrived.length} server spans arrived, 0 lost`);
      await a.stop();
    }
  });

  it('one export in flight at a time, also after failed ones: an outage does not multiply requests to the collector', async (t) => {
    // A collector that takes every request and never answers, counting how many are open at once.
    let open = 0;
    let maxOpen = 0;
    let total = 0;
    const collector = http.createServer((req) => {
      total++;
      maxOpen = Math.max(maxOpen, ++open);
      req.socket.once('close', () => open--);
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    try {
      const a = await app(`http://127.0.0.1:${(collector.address() as net.AddressInfo).port}`, { OTEL_EXPORTER_OTLP_TIMEOUT: '300' });
      const sent = await load(a, 4000);
      assert.deepEqual(Object.keys(sent.statuses), ['200']);
      const st = await stats(a);
      assert.ok(st.failed > 0 && total > 3, `exports failed repeatedly (${total} requests, ${JSON.stringify(st)})`);
      assert.equal(maxOpen, 1, `${maxOpen} export requests were open at once (${total} in all)`);
      t.diagnostic(`${total} export requests over 4 s of outage, at most ${maxOpen} open at once; ${JSON.stringify(st)}`);
    } finally {
      collector.closeAllConnections();
      collector.close();
    }
  });

  it('memory levels off through 20 s of load against a collector that never answers', async (t) => {
    const rx = await receiver();
    rx.setMode('hang');
    const a = await app(rx.url);
    await load(a, 1000);
    const heap = [(await memory(a)).heapUsed];
    const rss = [(await memory(a)).rss];
    for (let i = 0; i < 4; i++) {
      await load(a, 5000);
      const m = await memory(a);
      heap.push(m.heapUsed);
      rss.push(m.rss);
    }
    const shown = `heap after GC every 5 s: ${heap.map((h) => (h / MB).toFixed(1)).join(', ')} MB; rss ${rss.map((r) => (r / MB).toFixed(0)).join(', ')} MB`;
    // Past warm-up the heap is flat: over the last 10 s it may not grow by what an unbounded queue adds in 3 s.
    assert.ok(heap[4] - heap[2] < 8 * MB, shown);
    assert.ok(Math.max(...heap) < 48 * MB, shown);
    assert.ok(Math.max(...rss) - rss[0] < RSS_GROWTH_LIMIT, shown);
    const st = await stats(a);
    assert.ok(st.droppedQueueFull > 0, `the bounded queue overflowed and counted it: ${JSON.stringify(st)}`);
    assert.equal(lines(a, FAILING).length, 1, a.stderr());
    t.diagnostic(`${shown}; ${JSON.stringify(st)}`);
  });
});
