// A framework hook that patches a package's exports right after the app loads
// it (./first-require.ts onLoad), without @opentelemetry/instrumentation's
// module patching: no require-in-the-middle hook on every require, no
// package.json read and semver check per file, no import-in-the-middle proxy
// for ES module imports. A patch checks the shape of what it gets, and a
// package whose exports don't fit is left alone.
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { Instrumentation, InstrumentationConfig } from '@opentelemetry/instrumentation';
import { DISTRO_VERSION } from '../version';
import { onLoad } from './first-require';

/** Patches the loaded exports of one package; true when it recognised and patched them. */
export type ExportsPatch = (exports: unknown) => boolean;

export class ExportsHook implements Instrumentation {
  readonly instrumentationVersion = DISTRO_VERSION;
  private config: InstrumentationConfig;
  private stop: (() => void) | undefined;

  constructor(
    readonly instrumentationName: string,
    private readonly patches: Record<string, ExportsPatch>,
    config: InstrumentationConfig = {},
  ) {
    this.config = { enabled: true, ...config };
    if (this.config.enabled) this.enable();
  }

  /** Watches for the packages; patches stay in place once applied (they do nothing for a request without a recording span). */
  enable(): void {
    this.stop ??= onLoad(Object.keys(this.patches), (name, exports) => this.patches[name](exports));
  }

  disable(): void {
    this.stop?.();
    this.stop = undefined;
  }

  setTracerProvider(_provider: TracerProvider): void {}
  setMeterProvider(_provider: MeterProvider): void {}
  setConfig(config: InstrumentationConfig): void {
    this.config = { ...config };
  }
  getConfig(): InstrumentationConfig {
    return this.config;
  }
}
