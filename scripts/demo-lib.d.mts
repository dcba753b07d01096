type Env = Record<string, string | undefined>;
export const REPO_ROOT: string;
export const SIDETRACE_PRELOAD: string;
export interface StartDemoAppOptions {
  databaseUrl: string;
  redisUrl: string;
  /** A module for --require (default dist/preload.js); null runs the apps without one. */
  preload?: string | null;
  port?: number;
  env?: Env;
  appEnv?: Env;
  previewEnv?: Env;
  onOutput?: (name: 'app' | 'preview', line: string) => void;
}
export interface DemoApp {
  appUrl: string;
  previewUrl: string;
  output: { app: string[]; preview: string[] };
  stop(): Promise<void>;
}
export function startDemoApp(options: StartDemoAppOptions): Promise<DemoApp>;
export function stopOnSignals(say: (line: string) => void): AbortController;
