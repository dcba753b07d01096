export declare const REPO_ROOT: string;
export declare const COLLECTOR_DIR: string;
export declare const BUILD_SCRIPT: string;
export declare const SIDECAR_CONFIG_FILES: string[];
export declare const SIDECAR_GATEWAY_FILES: string[];
export declare const GATEWAY_CONFIG_FILES: string[];
export declare const COLLECTOR_CONFIG_FILES: string[];
export declare const COLLECTOR_ENTRYPOINT: string;
export declare const JAEGER_CONFIG_FILE: string;
export declare const JAEGER_CLUSTER_CONFIG_FILES: string[];
export type PortName =
  | 'otlpGrpc'
  | 'otlpHttp'
  | 'collectorHealth'
  | 'collectorMetrics'
  | 'spanMetrics'
  | 'jaegerOtlpGrpc'
  | 'jaegerOtlpHttp'
  | 'jaegerThriftHttp'
  | 'jaegerQueryHttp'
  | 'jaegerQueryGrpc'
  | 'jaegerHealth'
  | 'jaegerMetrics';
export declare const PORTS: Record<PortName, { service: 'collector' | 'jaeger'; env: string; default: number }>;
export declare const TIER: { sidecars: number; gateways: number; step: number };
export type GatewayPortName = 'otlpGrpc' | 'health' | 'metrics';
export declare const GATEWAY_PORTS: Record<GatewayPortName, { env: string; local: number }>;
export declare const ROLE_ENV: string;
export declare const GATEWAY_ENDPOINTS_ENV: string;
export declare const GATEWAY_DNS_ENV: string;
export declare const GATEWAY_PORT_ENV: string;
export declare const JAEGER_STORAGE_ENV: string;
export declare const JAEGER_DATA_DIR_ENV: string;
export declare const JAEGER_STORAGES: string[];
export declare const COLLECTOR_HOST_ENV: string;
export declare const JAEGER_HOST_ENV: string;
export declare const JAEGER_ENDPOINT_ENV: string;
export declare const STORAGE_DIR_ENV: string;
export declare const NEW_RELIC_ENV: string[];

export interface Binaries {
  otelcolBin: string;
  jaegerBin: string;
  jaegerVersion: string;
}
export declare function ensureBinaries(options?: { log?: (line: string) => void }): Promise<Binaries>;
export declare function freePort(): Promise<number>;
/** Rewrites a DNS-mode hosts file in place: `name` at each of `addresses`. */
export declare function writeHosts(file: string, name: string, addresses: string[]): void;

export interface StartStackOptions {
  /** Where NEW_RELIC_* and SIDETRACE_* overrides are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Pick a free loopback port for every listener not given in `ports` (tests); state goes to a temp dir removed on stop(). */
  freePorts?: boolean;
  ports?: Partial<Record<PortName, number>>;
  /** The persistent New Relic queue's directory (default .stack/collector-storage, or the temp dir). */
  storageDir?: string;
  logDir?: string;
  /** Jaeger's Badger directory (default .stack/jaeger-data, or the temp dir). */
  jaegerDataDir?: string;
  /** 'badger' (default: traces survive a restart) or 'memory'. */
  jaegerStorage?: 'badger' | 'memory';
  /** The tiered topology: two gateways (tail sampling, the exports) and two sidecars routing to them by trace id. */
  gateway?: boolean;
  /**
   * With `gateway`: the sidecars find the gateways by DNS (SIDETRACE_GATEWAY_DNS=name) instead of a list.
   * Gateway i listens on 127.0.0.(i+1), all on one port; each sidecar runs in a mount namespace of its
   * own (`unshare --mount`; not root: with a user namespace) where `hostsFile` (written by the stack; default in its state
   * dir) is bind-mounted over /etc/hosts, so rewriting that file in place (writeHosts) changes what the
   * name resolves to for the sidecars only.
   */
  gatewayDns?: { name: string; hostsFile?: string };
  /** With `gateway`: how many gateways and sidecars (default TIER's two and two). */
  gateways?: number;
  sidecars?: number;
  /** Extra variables for the sidecar(s) (e.g. SIDETRACE_COLLECTOR_MEMORY_LIMIT_MIB, NEW_RELIC_OTLP_ENDPOINT). */
  collectorEnv?: Record<string, string>;
  /** Extra variables for the gateways (e.g. SIDETRACE_TAIL_SAMPLE_PERCENT, NEW_RELIC_LICENSE_KEY). */
  gatewayEnv?: Record<string, string>;
  jaegerEnv?: Record<string, string>;
}

/** One collector of the stack, run through collector/entrypoint.sh. */
export interface CollectorHandle {
  name: string;
  readonly pid: number | undefined;
  logFile: string;
  /** The environment it is started with. */
  env(): Record<string, string>;
  running(): boolean;
  start(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<unknown>;
  restart(options?: { signal?: NodeJS.Signals; env?: Record<string, string> }): Promise<void>;
  log(): string;
}
export interface SidecarHandle extends CollectorHandle {
  otlpHttpUrl: string;
  otlpGrpcUrl: string;
  collectorHealthUrl: string;
  collectorMetricsUrl: string;
  spanMetricsUrl: string;
}
export interface GatewayHandle extends CollectorHandle {
  /** host:port of its OTLP/gRPC receiver, as the sidecars list it. */
  otlpGrpcEndpoint: string;
  healthUrl: string;
  metricsUrl: string;
}

export interface Stack {
  ports: Record<PortName, number>;
  jaegerUrl: string;
  jaegerThriftUrl: string;
  jaegerOtlpHttpUrl: string;
  jaegerHealthUrl: string;
  jaegerMetricsUrl: string;
  otlpHttpUrl: string;
  otlpGrpcUrl: string;
  collectorHealthUrl: string;
  collectorMetricsUrl: string;
  spanMetricsUrl: string;
  logDir: string;
  storageDir: string;
  jaegerDataDir: string;
  jaegerStorage: 'badger' | 'memory';
  binaries: Binaries;
  newRelic: boolean;
  newRelicEndpoint: string;
  collector: { readonly pid: number | undefined; logFile: string };
  jaeger: { readonly pid: number | undefined; logFile: string };
  /** The sidecar (one; two with `gateway`); the top-level URLs and collector* functions are the first's. */
  sidecars: SidecarHandle[];
  /** The gateways (none without `gateway`). */
  gateways: GatewayHandle[];
  /** With `gatewayDns`: the name, the gateways' shared port, and the sidecars' hosts file. */
  gatewayDns: { name: string; port: number; hostsFile: string } | undefined;
  restartJaeger(options?: { signal?: NodeJS.Signals }): Promise<void>;
  restartCollector(options?: { signal?: NodeJS.Signals; env?: Record<string, string> }): Promise<void>;
  stopCollector(signal?: NodeJS.Signals): Promise<unknown>;
  startCollector(): Promise<void>;
  collectorRunning(): boolean;
  collectorLog(): string;
  jaegerLog(): string;
  stop(): Promise<void>;
}
export declare function startStack(options?: StartStackOptions): Promise<Stack>;
