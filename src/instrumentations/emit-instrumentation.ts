// The part sidetrace's own instrumentations (the HTTP server and the http
// client) share: the Instrumentation interface the SDK registers them through,
// and one wrap per prototype's `emit` that disable() takes off again.
import { trace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { Instrumentation, InstrumentationConfig } from '@opentelemetry/instrumentation';
import { DISTRO_VERSION } from '../version';

export type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

export abstract class EmitInstrumentation<Settings extends InstrumentationConfig> implements Instrumentation<Settings> {
  readonly instrumentationVersion = DISTRO_VERSION;
  protected tracer: Tracer;
  /** Undoes what enable() did, newest last. */
  protected restore: (() => void)[] = [];

  constructor(
    readonly instrumentationName: string,
    protected settings: Settings,
  ) {
    this.tracer = trace.getTracer(instrumentationName, DISTRO_VERSION);
  }

  abstract enable(): void;

  disable(): void {
    for (const undo of this.restore.splice(0)) undo();
  }

  setTracerProvider(provider: TracerProvider): void {
    this.tracer = provider.getTracer(this.instrumentationName, DISTRO_VERSION);
  }
  setMeterProvider(): void {}
  setConfig(config: Settings): void {
    this.settings = config;
  }
  getConfig(): Settings {
    return this.settings;
  }

  /** Replace `proto.emit` with an own property; disable() puts back exactly what was there. */
  protected wrapEmit(proto: object, make: (original: Emit) => Emit): void {
    const target = proto as { emit: Emit };
    const own = Object.hasOwn(target, 'emit');
    const previous = target.emit;
    target.emit = make(previous);
    this.restore.push(() => {
      if (own) target.emit = previous;
      else delete (target as Partial<typeof target>).emit;
    });
  }
}
