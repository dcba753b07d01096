// No Docker engine runs here, so docker-compose.yml is checked against what
// the local stack really runs: the config files and entrypoint stack-lib uses,
// the variables the config files read (parsed from the files), the port table
// stack-lib starts with, the Dockerfile and the versions stack-build.sh builds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import {
  COLLECTOR_CONFIG_FILES,
  COLLECTOR_DIR,
  COLLECTOR_ENTRYPOINT,
  COLLECTOR_HOST_ENV,
  GATEWAY_CONFIG_FILES,
  GATEWAY_DNS_ENV,
  GATEWAY_ENDPOINTS_ENV,
  GATEWAY_PORT_ENV,
  GATEWAY_PORTS,
  JAEGER_CONFIG_FILE,
  JAEGER_DATA_DIR_ENV,
  JAEGER_ENDPOINT_ENV,
  JAEGER_HOST_ENV,
  JAEGER_STORAGE_ENV,
  NEW_RELIC_ENV,
  PORTS,
  REPO_ROOT,
  ROLE_ENV,
  STORAGE_DIR_ENV,
  TIER,
} from '../scripts/stack-lib.mjs';

const read = (...p: string[]) => fs.readFileSync(path.join(...p), 'utf8');
// Compose understands YAML merge keys (the gateways share one definition).
const composeText = read(REPO_ROOT, 'docker-compose.yml');
const compose = YAML.parse(composeText, { merge: true });
// Continuation lines joined, so a COPY over several lines reads as one.
const dockerfile = read(COLLECTOR_DIR, 'Dockerfile').replace(/\\\n\s*/g, ' ');
const buildScript = read(REPO_ROOT, 'scripts', 'stack-build.sh');

/** `${env:NAME}` / `${env:NAME:-default}` references of a file, name → default ('' when none). */
function envReferences(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g)) out.set(m[1], m[2] ?? '');
  return out;
}
/** Variables a shell script reads as ${NAME…}. */
function shellReferences(text: string): Set<string> {
  return new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)[:}]/g)].map((m) => m[1]));
}

const collectorRefs = new Map<string, string>();
for (const f of COLLECTOR_CONFIG_FILES) for (const [k, v] of envReferences(read(COLLECTOR_DIR, f))) collectorRefs.set(k, v);
const jaegerRefs = envReferences(read(COLLECTOR_DIR, JAEGER_CONFIG_FILE));
const entrypointRefs = shellReferences(read(COLLECTOR_DIR, COLLECTOR_ENTRYPOINT));

const envOf = (service: string): Record<string, string> => {
  const env = compose.services[service].environment ?? {};
  return Array.isArray(env) ? Object.fromEntries(env.map((e: string) => e.split(/=(.*)/s).slice(0, 2))) : env;
};
/** "host:container" port mappings of a compose service as [host, container] numbers. */
const published = (service: string): [number, number][] =>
  (compose.services[service].ports ?? []).map((p: string | number) => {
    const parts = String(p).split(':').map(Number);
    return [parts.at(-2) ?? parts[0], parts.at(-1)!];
  });
interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}
const mounts = (service: string): Mount[] =>
  (compose.services[service].volumes ?? []).map((v: string): Mount => {
    const [source, target, mode] = v.split(':');
    return { source, target, readOnly: mode === 'ro' };
  });
const dockerfileEnv = (name: string) => dockerfile.match(new RegExp(`\\b${name}=(\\S+)`))?.[1];

describe('docker-compose.yml runs what the local stack runs', () => {
  test("stack-lib's port table matches the variables and defaults in the config files", () => {
    for (const [name, spec] of Object.entries(PORTS)) {
      const refs = spec.service === 'collector' ? collectorRefs : jaegerRefs;
      assert.ok(refs.has(spec.env), `${name}: ${spec.env} is read by the ${spec.service} config`);
      assert.equal(Number(refs.get(spec.env)), spec.default, `${name}: default of ${spec.env}`);
    }
    // …and every *_PORT variable the configs read is in the table (none is left to its default by accident).
    const tablePorts = new Set(Object.values(PORTS).map((p) => p.env));
    // SIDETRACE_GATEWAY_PORT is the gateways' port as a sidecar dials it, not a listener.
    for (const name of [...collectorRefs.keys(), ...jaegerRefs.keys()].filter((n) => n.endsWith('_PORT') && n !== 'SIDETRACE_GATEWAY_PORT'))
      assert.ok(tablePorts.has(name), `${name} is in stack-lib's PORTS`);
    for (const name of [COLLECTOR_HOST_ENV, JAEGER_ENDPOINT_ENV, STORAGE_DIR_ENV, ...NEW_RELIC_ENV])
      assert.ok(collectorRefs.has(name), `${name} is read by the collector config`);
    assert.ok(jaegerRefs.has(JAEGER_HOST_ENV));
  });

  test('the collector service mounts the same config files and entrypoint the local stack runs', () => {
    const configDir = dockerfileEnv('SIDETRACE_COLLECTOR_CONFIG_DIR');
    assert.ok(configDir, 'the Dockerfile names the config directory');
    assert.match(dockerfile, new RegExp(`ENTRYPOINT \\["${configDir}/${COLLECTOR_ENTRYPOINT}"\\]`));
    const m = mounts('collector');
    for (const f of [...COLLECTOR_CONFIG_FILES, COLLECTOR_ENTRYPOINT]) {
      const mount: Mount | undefined = m.find((x) => x.target === `${configDir}/${f}`);
      assert.ok(mount, `${f} is mounted into ${configDir}`);
      assert.equal(path.resolve(REPO_ROOT, mount.source), path.join(COLLECTOR_DIR, f));
      assert.ok(mount.readOnly, `${f} is mounted read-only`);
      assert.match(dockerfile, new RegExp(`COPY [^\\n]*\\b${f.replace('.', '\\.')}\\b`), `the image also carries ${f}`);
    }
    // The persistent queue's directory is a named volume, so it survives a restart.
    const storage = envOf('collector')[STORAGE_DIR_ENV];
    assert.ok(storage);
    const volume = m.find((x) => x.target === storage);
    assert.ok(volume && !volume.source.startsWith('.') && compose.volumes && volume.source in compose.volumes, `${storage} is a named volume`);
    assert.equal(compose.services.collector.build, './collector');
  });

  test('the jaeger service runs the same jaeger.yaml, with the official image of the Jaeger version the local stack builds', () => {
    const svc = compose.services.jaeger;
    const configArg = svc.command[svc.command.indexOf('--config') + 1];
    const mount = mounts('jaeger').find((x) => x.target === configArg);
    assert.ok(mount, `${configArg} is mounted`);
    assert.equal(path.resolve(REPO_ROOT, mount.source), path.join(COLLECTOR_DIR, JAEGER_CONFIG_FILE));
    const jaegerVersion = buildScript.match(/^JAEGER_VERSION=(\S+)/m)?.[1];
    assert.ok(jaegerVersion);
    assert.equal(svc.image, `jaegertracing/jaeger:${jaegerVersion}`);
  });

  for (const service of ['collector', 'jaeger'] as const) {
    test(`${service}: the same ports are set and published, and only variables the ${service} reads are passed`, () => {
      const env = envOf(service);
      const ports = Object.values(PORTS).filter((p) => p.service === service);
      const pub = published(service);
      for (const p of ports) {
        assert.ok(p.env in env, `${p.env} is set`);
        const container = Number(env[p.env]);
        assert.ok(
          pub.some(([, c]) => c === container),
          `${p.env}=${container} is published`,
        );
      }
      for (const [, c] of pub)
        assert.ok(
          ports.some((p) => Number(env[p.env]) === c),
          `published port ${c} is one the ${service} listens on`,
        );
      const hostEnv = service === 'collector' ? COLLECTOR_HOST_ENV : JAEGER_HOST_ENV;
      assert.equal(env[hostEnv], '0.0.0.0', "listens beyond the container's loopback");
      const reads = service === 'collector' ? new Set([...collectorRefs.keys(), ...entrypointRefs]) : new Set(jaegerRefs.keys());
      for (const name of Object.keys(env)) assert.ok(reads.has(name), `${name} is read by the ${service}`);
    });
  }

  test("the collector gets New Relic's variables and reaches Jaeger's OTLP port; the app reaches the collector", () => {
    const env = envOf('collector');
    for (const name of NEW_RELIC_ENV) {
      assert.ok(name in env, `${name} is passed`);
      assert.match(String(env[name]), new RegExp(`^\\$\\{${name}(:-[^}]*)?\\}$`), `${name} comes from the user's environment`);
    }
    assert.equal(
      String(env.NEW_RELIC_OTLP_ENDPOINT).match(/:-([^}]*)/)?.[1],
      collectorRefs.get('NEW_RELIC_OTLP_ENDPOINT'),
      'same New Relic default as the config',
    );
    const jaegerEnv = envOf('jaeger');
    assert.equal(env[JAEGER_ENDPOINT_ENV], `jaeger:${jaegerEnv[PORTS.jaegerOtlpGrpc.env]}`);
    const app = envOf('app');
    assert.equal(app.OTEL_EXPORTER_OTLP_ENDPOINT, `http://collector:${env[PORTS.otlpHttp.env]}`);
    assert.ok(app.DATABASE_URL?.includes('@postgres:') && app.REDIS_URL?.startsWith('redis://redis:'));
    assert.equal(compose.services.app.build.dockerfile, 'examples/demo/Dockerfile');
    assert.ok(fs.existsSync(path.join(REPO_ROOT, 'examples/demo/Dockerfile')));
    assert.match(compose.services.postgres.image, /^postgres:15\b/);
    assert.match(compose.services.redis.image, /^redis:7\b/);
  });

  test('the collector image builds the same ocb manifest at the same versions as stack-build.sh', () => {
    const ocb = buildScript.match(/^OCB_VERSION=(\S+)/m)?.[1];
    const otelcol = buildScript.match(/^OTELCOL_VERSION=(\S+)/m)?.[1];
    assert.equal(dockerfile.match(/ARG OCB_VERSION=(\S+)/)?.[1], ocb);
    assert.match(dockerfile, /COPY builder-config\.yaml/);
    const manifest = YAML.parse(read(COLLECTOR_DIR, 'builder-config.yaml'));
    assert.equal(manifest.dist.version, otelcol);
    assert.equal(manifest.dist.name, 'otelcol-sidetrace');
    assert.match(dockerfile, new RegExp(`${manifest.dist.output_path.replace(/^\.\//, '')}/${manifest.dist.name}`));
    // One release line: v0.X for components, v1.(X-94) for the stable confmap modules.
    const modules = ['receivers', 'processors', 'exporters', 'connectors', 'extensions', 'providers']
      .flatMap((k) => manifest[k] ?? [])
      .concat(manifest.telemetry);
    const minor = Number(otelcol!.split('.')[1]);
    for (const { gomod } of modules) {
      const version = gomod.split(' ')[1];
      assert.ok(version === `v${otelcol}` || version === `v1.${minor - 94}.0`, `${gomod} is on the ${otelcol} release line`);
    }
    const healthPort = PORTS.collectorHealth.default;
    assert.match(dockerfile, new RegExp(`HEALTHCHECK[^\\n]*:${healthPort}/`), 'the image health check uses the health_check port');
  });

  const gatewayServices = Object.keys(compose.services).filter((name) => compose.services[name].environment?.[ROLE_ENV] === 'gateway');
  const configDir = dockerfileEnv('SIDETRACE_COLLECTOR_CONFIG_DIR')!;

  test('the gateway profile: the same image in the gateway role, the files the entrypoint picks for it, ports as in `npm run stack -- --gateway`', () => {
    assert.equal(gatewayServices.length, TIER.gateways, `${TIER.gateways} gateways, as the local stack runs`);
    const gatewayRefs = new Set([
      ...envReferences(read(COLLECTOR_DIR, 'gateway.yaml')).keys(),
      ...envReferences(read(COLLECTOR_DIR, 'gateway-newrelic.yaml')).keys(),
      ...entrypointRefs,
    ]);
    const storages = new Set<string>();
    gatewayServices.forEach((name, i) => {
      const svc = compose.services[name];
      const env = envOf(name);
      assert.deepEqual(svc.profiles, ['gateway'], `${name} only runs with --profile gateway`);
      assert.equal(svc.build, './collector');
      for (const f of [COLLECTOR_ENTRYPOINT, ...GATEWAY_CONFIG_FILES]) {
        const mount = mounts(name).find((m) => m.target === `${configDir}/${f}`);
        assert.ok(mount && mount.readOnly && path.resolve(REPO_ROOT, mount.source) === path.join(COLLECTOR_DIR, f), `${name} mounts ${f} read-only`);
      }
      for (const k of Object.keys(env)) assert.ok(gatewayRefs.has(k), `${k} is read by a gateway`);
      assert.equal(env[COLLECTOR_HOST_ENV], '0.0.0.0');
      assert.equal(env[JAEGER_ENDPOINT_ENV], `jaeger:${envOf('jaeger')[PORTS.jaegerOtlpGrpc.env]}`);
      // Host ports: the local stack's; container ports: the ones the gateway is told to listen on.
      const pub = published(name);
      for (const [key, spec] of Object.entries(GATEWAY_PORTS)) {
        const container = Number(env[spec.env]);
        assert.ok(
          pub.some(([h, c]) => c === container && h === spec.local + TIER.step * i),
          `${name}: ${key} published as ${spec.local + TIER.step * i}:${container}`,
        );
      }
      assert.equal(pub.length, Object.keys(GATEWAY_PORTS).length);
      const storage = mounts(name).find((m) => m.target === env[STORAGE_DIR_ENV]);
      assert.ok(storage && storage.source in compose.volumes, `${name}: its New Relic queue is on a named volume`);
      storages.add(storage.source);
      for (const nrVar of NEW_RELIC_ENV)
        assert.match(String(env[nrVar]), new RegExp(`^\\$\\{${nrVar}(:-[^}]*)?\\}$`), `${name}: ${nrVar} from the user's environment`);
    });
    assert.equal(storages.size, gatewayServices.length, 'each gateway has its own queue volume');
  });

  test('with the endpoints the compose file names, the sidecar routes to the gateway services, and every file the entrypoint picks is mounted', () => {
    const named = composeText.match(new RegExp(`${GATEWAY_ENDPOINTS_ENV}=(\\S+) docker compose --profile gateway up`))?.[1];
    assert.ok(named, 'docker-compose.yml says how to start the tier');
    const gatewayPort = (name: string) => envOf(name)[GATEWAY_PORTS.otlpGrpc.env];
    assert.deepEqual(
      named.split(','),
      gatewayServices.map((name) => `${name}:${gatewayPort(name)}`),
    );
    assert.equal(envOf('collector')[GATEWAY_ENDPOINTS_ENV], `\${${GATEWAY_ENDPOINTS_ENV}:-}`, 'empty unless the user sets it');
    // Compose's environment with the user's variables filled in, as the entrypoint sees it in the container.
    const resolve = (env: Record<string, string>, user: Record<string, string>) =>
      Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{([A-Z_]+)(?::-([^}]*))?\}/g, (_m, n, d) => user[n] ?? d ?? '')]));
    for (const [service, user] of [
      ['collector', {}],
      ['collector', { NEW_RELIC_LICENSE_KEY: 'k' }],
      ['collector', { [GATEWAY_ENDPOINTS_ENV]: named, NEW_RELIC_LICENSE_KEY: 'k' }],
      ...gatewayServices.flatMap((g) => [
        [g, {}],
        [g, { NEW_RELIC_LICENSE_KEY: 'k' }],
      ]),
    ] as [string, Record<string, string>][]) {
      const r = spawnSync('sh', [path.join(COLLECTOR_DIR, COLLECTOR_ENTRYPOINT), 'files'], {
        env: { PATH: process.env.PATH, ...resolve(envOf(service), user), SIDETRACE_COLLECTOR_CONFIG_DIR: configDir },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const picked = r.stdout.trim().split('\n');
      for (const f of picked)
        assert.ok(
          mounts(service).some((m) => m.target === f),
          `${service} with ${JSON.stringify(user)}: ${f} is mounted`,
        );
    }
    const tiered = spawnSync('sh', [path.join(COLLECTOR_DIR, COLLECTOR_ENTRYPOINT), 'files'], {
      env: { PATH: process.env.PATH, ...resolve(envOf('collector'), { [GATEWAY_ENDPOINTS_ENV]: named }) },
      encoding: 'utf8',
    });
    assert.match(tiered.stderr, /gateway mode: traces go to gateway-1:4317, gateway-2:4317/);
  });

  test('by DNS: the name the compose file names is an alias of every gateway service, on the port the sidecar dials by default', () => {
    const name = composeText.match(new RegExp(`${GATEWAY_DNS_ENV}=(\\S+) docker compose --profile gateway up`))?.[1];
    assert.ok(name, 'docker-compose.yml says how to start the tier by DNS');
    for (const g of gatewayServices) {
      assert.deepEqual(compose.services[g].networks?.default?.aliases, [name], `${g} answers to ${name}`);
      assert.equal(envOf(g)[GATEWAY_PORTS.otlpGrpc.env], collectorRefs.get(GATEWAY_PORT_ENV), `${g} listens on the port the sidecar dials`);
    }
    assert.equal(envOf('collector')[GATEWAY_DNS_ENV], `\${${GATEWAY_DNS_ENV}:-}`, 'empty unless the user sets it');
    const r = spawnSync('sh', [path.join(COLLECTOR_DIR, COLLECTOR_ENTRYPOINT), 'files'], {
      env: { PATH: process.env.PATH, [GATEWAY_DNS_ENV]: name },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    for (const f of r.stdout.trim().split('\n'))
      assert.ok(
        mounts('collector').some((m) => m.target === `${configDir}/${path.basename(f)}`),
        `${path.basename(f)} is mounted`,
      );
    assert.match(r.stderr, new RegExp(`gateway mode: traces go to every address of ${name}, port 4317`));
  });

  test('Jaeger keeps its traces on a named volume (Badger) whose owner is the user Jaeger runs as', () => {
    const env = envOf('jaeger');
    assert.equal(env[JAEGER_STORAGE_ENV], `\${${JAEGER_STORAGE_ENV}:-${jaegerRefs.get(JAEGER_STORAGE_ENV)}}`, 'Badger by default, as jaeger.yaml');
    assert.equal(jaegerRefs.get(JAEGER_STORAGE_ENV), 'badger');
    const dataDir = env[JAEGER_DATA_DIR_ENV];
    const volume = mounts('jaeger').find((m) => m.target === dataDir);
    assert.ok(volume && volume.source in compose.volumes, `${dataDir} is a named volume`);
    const init = Object.entries(compose.services as Record<string, any>).find(([, svc]) => svc.command?.[0] === 'chown');
    assert.ok(init, "a service sets the volume's owner");
    assert.ok(mounts(init[0]).some((m) => m.source === volume.source && m.target === init[1].command.at(-1)));
    assert.equal(compose.services.jaeger.depends_on[init[0]].condition, 'service_completed_successfully');
  });
});
