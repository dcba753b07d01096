export declare const REPO_ROOT: string;
export declare const COLLECTOR_DIR: string;
export declare const BUILD_SCRIPT: string;
export declare const COLLECTOR_CONFIG_FILES: string[];
export declare const COLLECTOR_ENTRYPOINT: string;
export declare const JAEGER_CONFIG_FILE: string;
export type PortName =
  | 'otlpGrpc' | 'otlpHttp' | 'collectorHealth' | 'collectorMetrics' | 'spanMetrics'
  | 'jaegerOtlpGrpc' | 'jaegerOtlpHttp' | 'jaegerThriftHttp' | 'jaegerQueryHttp' | 'jaegerQueryGrpc' | 'jaegerHealth' | 'jaegerMetrics';
export declare const PORTS: Record<PortName, { service: 'collector' | 'jaeger'; env: string; default: number }>;
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
  /** Extra variables for the collector (e.g. SIDETRACE_COLLECTOR_MEMORY_LIMIT_MIB, NEW_RELIC_OTLP_ENDPOINT). */
  collectorEnv?: Record<string, string>;
  jaegerEnv?: Record<string, string>;
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
  binaries: Binaries;
  newRelic: boolean;
  newRelicEndpoint: string;
  collector: { readonly pid: number | undefined; logFile: string };
  jaeger: { readonly pid: number | undefined; logFile: string };
  restartCollector(options?: { signal?: NodeJS.Signals; env?: Record<string, string> }): Promise<void>;
  stopCollector(signal?: NodeJS.Signals): Promise<unknown>;
  startCollector(): Promise<void>;
  collectorRunning(): boolean;
  collectorLog(): string;
  jaegerLog(): string;
  stop(): Promise<void>;
}
export declare function startStack(options?: StartStackOptions): Promise<Stack>;
