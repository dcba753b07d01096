// `sidetrace deploy -- <command>` and `sidetrace deploy step`: the built CLI
// run as a real process, its spans as a real OTLP receiver decodes them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonicalRepositoryUrl } from '../src/deploy/git';
import { PRELOAD } from './helpers/app';
import { cli, CLI, run, sidetraceLines, start, tempDir, tracingEnv } from './helpers/deploy';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';

const NODE = process.execPath;
const API = require.resolve('@opentelemetry/api');

let receiver: OtlpReceiver;
let dir: string;

before(async () => {
  receiver = await startOtlpReceiver();
  dir = tempDir();
});
after(async () => {
  await receiver.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function script(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, body);
  return file;
}

async function deploySpan(id: string): Promise<ReceivedSpan> {
  const [span] = await receiver.waitForSpans((s) => s.name.startsWith('deploy ') && s.attributes['deployment.id'] === id);
  return span;
}

describe('sidetrace deploy -- <command>', () => {
  it('records a successful deploy with its deployment, version and performer attributes', async () => {
    const r = await cli(['deploy', '--version', 'v1.4.2', '--id', 'ok-1', '--', 'true'], {
      env: tracingEnv(receiver, { KAMAL_DESTINATION: 'production', KAMAL_PERFORMER: 'alice@example.com' }),
    });
    assert.equal(r.code, 0, r.err);
    const span = await deploySpan('ok-1');
    assert.equal(span.name, 'deploy shop');
    assert.equal(span.kind, 1, 'internal');
    assert.equal(span.parentSpanId, '', 'a root span');
    assert.notEqual(span.status.code, 2);
    assert.deepEqual(
      {
        status: span.attributes['deployment.status'],
        env: span.attributes['deployment.environment.name'],
        name: span.attributes['deployment.name'],
        version: span.attributes['service.version'],
        user: span.attributes['user.name'],
        exit: span.attributes['process.exit.code'],
        kind: span.attributes['sidetrace.deploy.kind'],
      },
      {
        status: 'succeeded',
        env: 'production',
        name: 'deploy shop v1.4.2 to production',
        version: 'v1.4.2',
        user: 'alice@example.com',
        exit: 0,
        kind: 'deploy',
      },
    );
    assert.equal(span.attributes['vcs.ref.head.revision'], execFileSync('git', ['rev-parse', 'HEAD']).toString().trim(), 'the revision from git');
    // The resource says the same, so the app's traces and the deploy line up by version.
    assert.equal(span.resource['service.name'], 'shop');
    assert.equal(span.resource['service.version'], 'v1.4.2');
    assert.equal(span.resource['deployment.environment.name'], 'production');
    assert.match(r.err, new RegExp(`^sidetrace: recording deploy shop v1\\.4\\.2 to production as trace ${span.traceId}$`, 'm'));
  });

  it('takes the version from KAMAL_VERSION, then GIT_COMMIT_SHA, then GITHUB_SHA', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ KAMAL_VERSION: 'k1', GIT_COMMIT_SHA: 'g1', GITHUB_SHA: 'h1' }, 'k1'],
      [{ GIT_COMMIT_SHA: 'g2', GITHUB_SHA: 'h2' }, 'g2'],
      [{ GITHUB_SHA: 'h3' }, 'h3'],
    ];
    for (const [i, [vars, expected]] of cases.entries()) {
      const r = await cli(['deploy', '--id', `ver-${i}`, '--', 'true'], { env: tracingEnv(receiver, vars) });
      assert.equal(r.code, 0, r.err);
      const span = await deploySpan(`ver-${i}`);
      assert.equal(span.attributes['service.version'], expected, JSON.stringify(vars));
      assert.equal(span.resource['service.version'], expected);
    }
  });

  it('marks a failing command as a failed deploy and exits with its code', async () => {
    const r = await cli(['deploy', '--id', 'fail-1', '--', 'sh', '-c', 'exit 3'], { env: tracingEnv(receiver) });
    assert.equal(r.code, 3);
    const span = await deploySpan('fail-1');
    assert.equal(span.status.code, 2, 'status error');
    assert.equal(span.status.message, 'the command exited with code 3');
    assert.equal(span.attributes['deployment.status'], 'failed');
    assert.equal(span.attributes['process.exit.code'], 3);
  });

  it('passes stdin, stdout, stderr and the exit code through byte for byte', async () => {
    // Every byte value, invalid UTF-8 included, both ways; the child echoes stdin after its own bytes.
    const child = script(
      'bytes.js',
      `const all = Buffer.alloc(256 * 4, 0).map((_, i) => i % 256);
       const chunks = [];
       process.stdin.on('data', (d) => chunks.push(d));
       process.stdin.on('end', () => {
         process.stdout.write(Buffer.concat([all, Buffer.from([0xff, 0xfe, 0x00, 0x0a]), ...chunks]));
         process.stderr.write(Buffer.from([0xc3, 0x28, 0x00, 0x0d, 0x0a, 0x80]));
         process.exitCode = 3;
       });`,
    );
    const input = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    const direct = await run(NODE, [child], { input });
    assert.equal(direct.code, 3);
    // OTEL_LOG_LEVEL=warn keeps sidetrace's own "recording ..." line off stderr, so the comparison is exact.
    const wrapped = await cli(['deploy', '--id', 'bytes-1', '--', NODE, child], { env: tracingEnv(receiver, { OTEL_LOG_LEVEL: 'warn' }), input });
    assert.equal(wrapped.code, 3);
    assert.ok(wrapped.stdout.equals(direct.stdout), 'stdout identical');
    assert.equal(wrapped.stdout.length, 256 * 4 + 4 + input.length);
    assert.ok(wrapped.stderr.equals(direct.stderr), `stderr identical: ${JSON.stringify(wrapped.err)}`);
    await deploySpan('bytes-1');
  });

  it('takes an empty option value as not given (a script passing an empty variable)', async () => {
    const r = await cli(['deploy', '--id', 'empty-1', '--changelog', '', '--version=', '--', 'true'], {
      env: tracingEnv(receiver, { GIT_COMMIT_SHA: 'from-env' }),
    });
    assert.equal(r.code, 0, r.err);
    const span = await deploySpan('empty-1');
    assert.equal(span.attributes['service.version'], 'from-env');
  });

  it('exits 128+N when the command is killed by signal N', async () => {
    const r = await cli(['deploy', '--id', 'sig-1', '--', 'sh', '-c', 'kill -TERM $$'], { env: tracingEnv(receiver) });
    assert.equal(r.code, 143);
    const span = await deploySpan('sig-1');
    assert.equal(span.status.message, 'the command was killed by SIGTERM');
    assert.equal(span.attributes['deployment.status'], 'failed');
  });

  it('passes SIGTERM sent to the CLI on to the command, and exits as the command does', async () => {
    const child = script('trap.sh', `trap 'echo got-term; exit 7' TERM\necho ready\nwhile true; do sleep 0.05; done\n`);
    const running = start(NODE, [CLI, 'deploy', '--id', 'fwd-1', '--', 'sh', child], { env: tracingEnv(receiver) });
    let r: Awaited<typeof running.done>;
    try {
      let out = '';
      const ready = new Promise<void>((resolve) => running.child.stdout!.on('data', (d) => (out += d) && out.includes('ready') && resolve()));
      await Promise.race([ready, running.done.then((early) => assert.fail(`exited before the command was ready: ${early.err}`))]);
      running.child.kill('SIGTERM');
      r = await running.done;
    } finally {
      running.killAll();
    }
    assert.equal(r.code, 7);
    assert.match(r.stdout.toString(), /got-term/);
    const span = await deploySpan('fwd-1');
    assert.equal(span.status.message, 'the command exited with code 7');
  });

  it('a command that cannot be found exits 127 with one line, and the deploy is failed', async () => {
    const r = await cli(['deploy', '--id', 'nf-1', '--', 'no-such-command-xyz'], { env: tracingEnv(receiver) });
    assert.equal(r.code, 127);
    assert.match(r.err, /^sidetrace: cannot run the command: no-such-command-xyz: command not found$/m);
    const span = await deploySpan('nf-1');
    assert.equal(span.status.code, 2);
  });

  it('gives the command TRACEPARENT, and a child under the preload joins the deploy trace', async () => {
    const child = script(
      'joins.js',
      `const api = require(process.env.OTEL_API);
       console.log('TRACEPARENT=' + process.env.TRACEPARENT);
       const parent = api.propagation.extract(api.ROOT_CONTEXT, { traceparent: process.env.TRACEPARENT });
       api.context.with(parent, () => api.trace.getTracer('migrations').startSpan('migrate users').end());`,
    );
    const r = await cli(['deploy', '--id', 'tp-1', '--', NODE, '--require', PRELOAD, child], { env: tracingEnv(receiver, { OTEL_API: API }) });
    assert.equal(r.code, 0, r.err);
    const deploy = await deploySpan('tp-1');
    assert.match(r.stdout.toString(), new RegExp(`^TRACEPARENT=00-${deploy.traceId}-${deploy.spanId}-01$`, 'm'));
    const [migrate] = await receiver.waitForSpans((s) => s.name === 'migrate users' && s.traceId === deploy.traceId);
    assert.equal(migrate.parentSpanId, deploy.spanId);
  });

  it('continues a TRACEPARENT it is given instead of starting a trace', async () => {
    const traceId = 'ab'.repeat(16);
    const r = await cli(['deploy', '--id', 'cont-1', '--', 'true'], { env: tracingEnv(receiver, { TRACEPARENT: `00-${traceId}-${'cd'.repeat(8)}-01` }) });
    assert.equal(r.code, 0, r.err);
    const span = await deploySpan('cont-1');
    assert.equal(span.traceId, traceId);
    assert.equal(span.parentSpanId, 'cd'.repeat(8));
  });

  it('nests steps under the deploy, with their own status', async () => {
    const st = `${NODE} ${CLI} deploy step`;
    const r = await cli(['deploy', '--id', 'steps-1', '--', 'sh', '-c', `${st} build -- true && ${st} push -- sh -c 'exit 5'; ${st} 'health check' -- true`], {
      env: tracingEnv(receiver),
    });
    assert.equal(r.code, 0, r.err);
    const deploy = await deploySpan('steps-1');
    const steps = await receiver.waitForSpans((s) => s.traceId === deploy.traceId && s.parentSpanId === deploy.spanId, { count: 3 });
    const byName = Object.fromEntries(steps.map((s) => [s.name, s]));
    assert.deepEqual(Object.keys(byName).sort(), ['build', 'health check', 'push']);
    assert.equal(byName.push.status.code, 2);
    assert.equal(byName.push.status.message, 'the command exited with code 5');
    assert.equal(byName.push.attributes['process.exit.code'], 5);
    assert.notEqual(byName.build.status.code, 2);
    for (const s of steps) {
      assert.equal(s.attributes['deployment.id'], 'steps-1', 'steps name their deploy');
      assert.equal(s.resource['service.name'], 'shop');
      assert.ok(s.startTimeUnixNano >= deploy.startTimeUnixNano && s.endTimeUnixNano <= deploy.endTimeUnixNano, 'inside the deploy');
    }
    assert.equal(deploy.attributes['deployment.status'], 'succeeded', 'the command itself succeeded');
  });

  it('records a step opened and closed by separate processes inside a wrapped deploy, and closes a forgotten one as failed', async () => {
    const st = `${NODE} ${CLI} deploy step`;
    const r = await cli(['deploy', '--id', 'xproc-1', '--', 'sh', '-c', `${st} boot --open && sleep 0.2 && ${st} boot --close && ${st} forgotten --open`], {
      env: tracingEnv(receiver),
    });
    assert.equal(r.code, 0, r.err);
    const deploy = await deploySpan('xproc-1');
    const [boot] = await receiver.waitForSpans((s) => s.name === 'boot' && s.traceId === deploy.traceId);
    assert.equal(boot.parentSpanId, deploy.spanId);
    assert.ok(boot.endTimeUnixNano - boot.startTimeUnixNano >= 200_000_000n, 'it spans the time between --open and --close');
    const [forgotten] = await receiver.waitForSpans((s) => s.name === 'forgotten' && s.traceId === deploy.traceId);
    assert.equal(forgotten.status.code, 2);
    assert.equal(forgotten.status.message, 'the deploy command exited before this step was closed');
  });

  it("exits with the command's code even when the exporter never answers (the flush is bounded)", async () => {
    receiver.setMode('hang');
    try {
      const r = await cli(['deploy', '--id', 'hang-1', '--', 'sh', '-c', 'exit 9'], { env: tracingEnv(receiver, { SIDETRACE_SHUTDOWN_TIMEOUT_MS: '300' }) });
      assert.equal(r.code, 9);
    } finally {
      receiver.setMode('ok');
    }
  });

  it('with tracing off, still runs the command and passes everything through, saying so in one line', async () => {
    const r = await cli(['deploy', '--', 'sh', '-c', 'cat; printf "to-err" >&2; echo "tp=${TRACEPARENT:-none}"; exit 4'], {
      env: { OTEL_SERVICE_NAME: 'shop' },
      input: 'from-stdin\n',
    });
    assert.equal(r.code, 4);
    assert.equal(r.stdout.toString(), 'from-stdin\ntp=none\n');
    const lines = sidetraceLines(r.err);
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0], /^sidetrace: tracing is off \(no exporter is configured.*\); the command runs untraced$/);
    assert.equal(r.err.replace(lines[0] + '\n', ''), 'to-err');
  });
});

describe('traceDeploy (library)', () => {
  it('runs work as a deploy span after start(), with the deploy context for children', async () => {
    const app = script(
      'library.js',
      `const { start, shutdown, traceDeploy } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
       const { execFileSync } = require('node:child_process');
       start({ instrumentations: false });
       (async () => {
         await traceDeploy({ version: 'lib1', id: 'lib-1' }, async (deploy) => {
           const seen = execFileSync('sh', ['-c', 'echo $TRACEPARENT'], { env: deploy.childEnv() }).toString().trim();
           console.log('child=' + seen + ' id=' + deploy.deploymentId);
         });
         await traceDeploy({ version: 'lib1', id: 'lib-2' }, async (deploy) => deploy.fail('health check failed'));
         await traceDeploy({ version: 'lib1', id: 'lib-3' }, async () => { throw new Error('push refused'); }).catch((e) => console.log('rethrown=' + e.message));
         await shutdown();
       })();`,
    );
    const r = await run(NODE, [app], { env: tracingEnv(receiver) });
    assert.equal(r.code, 0, r.err);
    const ok = await deploySpan('lib-1');
    assert.match(r.stdout.toString(), new RegExp(`^child=00-${ok.traceId}-${ok.spanId}-01 id=lib-1$`, 'm'));
    assert.equal(ok.attributes['deployment.status'], 'succeeded');
    assert.equal(ok.attributes['service.version'], 'lib1');
    const failed = await deploySpan('lib-2');
    assert.equal(failed.status.message, 'health check failed');
    const threw = await deploySpan('lib-3');
    assert.equal(threw.status.message, 'push refused');
    assert.equal(threw.attributes['deployment.status'], 'failed');
    assert.match(r.stdout.toString(), /^rethrown=push refused$/m);
  });
});

describe('GitHub Actions', () => {
  const github = (attempt: string, summary: string) => ({
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_RUN_ID: '9876543210',
    GITHUB_RUN_ATTEMPT: attempt,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_SHA: 'f'.repeat(40),
    GITHUB_ACTOR: 'octocat',
    GITHUB_WORKFLOW: 'Deploy',
    GITHUB_STEP_SUMMARY: summary,
  });

  it('derives the trace id from the run and attempt, and records the run', async () => {
    const summary = path.join(dir, 'summary.md');
    const expected = createHash('sha256').update('github-actions/acme/shop/9876543210/2').digest('hex').slice(0, 32);
    const printed = await cli(['deploy', 'trace-id'], { env: github('2', summary) });
    assert.equal(printed.stdout.toString(), `${expected}\n`);
    const byFlags = await cli(['deploy', 'trace-id', '--repository', 'acme/shop', '--run-id', '9876543210', '--run-attempt', '2']);
    assert.equal(byFlags.stdout.toString(), `${expected}\n`);

    const r = await cli(['deploy', '--environment', 'production', '--', 'true'], { env: tracingEnv(receiver, github('2', summary)) });
    assert.equal(r.code, 0, r.err);
    const [span] = await receiver.waitForSpans((s) => s.name === 'deploy shop' && s.attributes['deployment.id'] === '9876543210-2');
    assert.equal(span.traceId, expected);
    assert.deepEqual(
      {
        runId: span.attributes['cicd.pipeline.run.id'],
        runUrl: span.attributes['cicd.pipeline.run.url.full'],
        pipeline: span.attributes['cicd.pipeline.name'],
        revision: span.attributes['vcs.ref.head.revision'],
        repo: span.attributes['vcs.repository.url.full'],
        user: span.attributes['user.name'],
        version: span.attributes['service.version'],
      },
      {
        runId: '9876543210',
        runUrl: 'https://github.com/acme/shop/actions/runs/9876543210/attempts/2',
        pipeline: 'Deploy',
        revision: 'f'.repeat(40),
        repo: 'https://github.com/acme/shop',
        user: 'octocat',
        version: 'f'.repeat(40),
      },
    );
    assert.match(fs.readFileSync(summary, 'utf8'), new RegExp(`trace \`${expected}\``));

    // A re-run is a new attempt: a new trace.
    const rerun = await cli(['deploy', '--', 'true'], { env: tracingEnv(receiver, github('3', summary)) });
    assert.equal(rerun.code, 0, rerun.err);
    const [again] = await receiver.waitForSpans((s) => s.attributes['deployment.id'] === '9876543210-3');
    assert.equal(again.traceId, createHash('sha256').update('github-actions/acme/shop/9876543210/3').digest('hex').slice(0, 32));
  });
});

describe('the repository URL', () => {
  it('is taken from git without the credentials in the remote URL', async () => {
    const repo = path.join(dir, 'repo');
    fs.mkdirSync(repo);
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: repo,
        env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
      })
        .toString()
        .trim();
    git('init', '-q');
    git('remote', 'add', 'origin', 'https://deployer:ghp_s3cr3tT0ken@git.example.com/acme/shop.git');
    git('commit', '-q', '--allow-empty', '-m', 'first');
    const head = git('rev-parse', 'HEAD');
    const r = await cli(['deploy', '--id', 'repo-1', '--', 'true'], { env: tracingEnv(receiver), cwd: repo });
    assert.equal(r.code, 0, r.err);
    const span = await deploySpan('repo-1');
    assert.equal(span.attributes['vcs.repository.url.full'], 'https://git.example.com/acme/shop');
    assert.equal(span.attributes['vcs.ref.head.revision'], head);
    assert.equal(span.attributes['service.version'], head, 'the version falls back to git HEAD');
    assert.doesNotMatch(JSON.stringify([span.attributes, span.resource]), /s3cr3t/);
    assert.doesNotMatch(r.err, /s3cr3t/);
  });

  it('every remote form becomes a canonical https URL without credentials', () => {
    const cases: [string, string | undefined][] = [
      ['git@github.com:acme/shop.git', 'https://github.com/acme/shop'],
      ['ssh://git@github.com:2222/acme/shop.git', 'https://github.com/acme/shop'],
      ['https://x-access-token:ghs_abc@github.com/acme/shop.git?token=t#frag', 'https://github.com/acme/shop'],
      ['https://github.com/acme/shop/', 'https://github.com/acme/shop'],
      ['http://user:pw@git.internal:8080/acme/shop.git', 'http://git.internal:8080/acme/shop'],
      ['/srv/git/shop.git', undefined],
      ['file:///srv/git/shop.git', undefined],
    ];
    for (const [raw, expected] of cases) assert.equal(canonicalRepositoryUrl(raw), expected, raw);
  });
});

describe('GitLab CI', () => {
  it("records the pipeline, revision, project and user from GitLab's variables", async () => {
    const r = await cli(['deploy', '--', 'true'], {
      env: tracingEnv(receiver, {
        GITLAB_CI: 'true',
        CI_PIPELINE_ID: '4242',
        CI_PIPELINE_URL: 'https://gitlab.example.com/acme/shop/-/pipelines/4242',
        CI_PIPELINE_NAME: 'release',
        CI_COMMIT_SHA: 'c'.repeat(40),
        CI_PROJECT_URL: 'https://gitlab.example.com/acme/shop',
        GITLAB_USER_LOGIN: 'mallory',
      }),
    });
    assert.equal(r.code, 0, r.err);
    const span = await deploySpan('4242');
    assert.equal(span.attributes['cicd.pipeline.run.id'], '4242');
    assert.equal(span.attributes['cicd.pipeline.run.url.full'], 'https://gitlab.example.com/acme/shop/-/pipelines/4242');
    assert.equal(span.attributes['cicd.pipeline.name'], 'release');
    assert.equal(span.attributes['vcs.ref.head.revision'], 'c'.repeat(40));
    assert.equal(span.attributes['vcs.repository.url.full'], 'https://gitlab.example.com/acme/shop');
    assert.equal(span.attributes['user.name'], 'mallory');
  });
});

describe('bad input', () => {
  it('an unknown option, a missing command or an empty command: one line, exit 2, nothing run', async () => {
    const marker = path.join(dir, 'ran');
    for (const [args, message] of [
      [['deploy', '--bogus', '--', 'touch', marker], /^sidetrace: deploy: unknown option --bogus \(see sidetrace deploy --help\)$/m],
      [['deploy', '--service'], /^sidetrace: deploy: --service needs a value/m],
      [['deploy', '--service', '--', 'touch', marker], /^sidetrace: deploy: --service needs a value/m],
      [['deploy', 'touch', marker], /^sidetrace: deploy: unexpected argument "touch" \(put the command after --\)/m],
      [['deploy', '--version', 'v1'], /^sidetrace: deploy: no command given/m],
      [['deploy', '--'], /^sidetrace: deploy: no command after --/m],
      [['deploy', '--kind', 'sideways', '--', 'touch', marker], /^sidetrace: deploy: --kind must be one of deploy, rollback/m],
      [['deploy', 'step', '--', 'true'], /^sidetrace: deploy step: no step name/m],
      [['deploy', 'close'], /^sidetrace: deploy close: needs a carrier file/m],
    ] as [string[], RegExp][]) {
      const r = await cli(args, { env: tracingEnv(receiver) });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, message);
    }
    assert.equal(fs.existsSync(marker), false);
  });

  it('an unreadable carrier file: one line; a step command still runs with its exit code', async () => {
    const bad = path.join(dir, 'garbage.json');
    fs.writeFileSync(bad, '{ not json');
    const close = await cli(['deploy', 'close', '--carrier', bad], { env: tracingEnv(receiver) });
    assert.equal(close.code, 1);
    assert.match(close.err, new RegExp(`^sidetrace: carrier file ${bad} is not JSON; the deploy is not closed$`, 'm'));
    const step = await cli(['deploy', 'step', 'migrate', '--carrier', bad, '--', 'sh', '-c', 'echo ran; exit 6'], { env: tracingEnv(receiver) });
    assert.equal(step.code, 6);
    assert.equal(step.stdout.toString(), 'ran\n');
    assert.match(step.err, new RegExp(`^sidetrace: carrier file ${bad} is not JSON; ignoring it$`, 'm'));
    const missing = await cli(['deploy', 'close', '--carrier', path.join(dir, 'none.json')], { env: tracingEnv(receiver) });
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^sidetrace: no open deploy in .*none\.json \(did `sidetrace deploy open` run\?\); nothing to close$/m);
  });
});
