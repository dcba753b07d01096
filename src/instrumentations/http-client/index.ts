// The `http` entry's lean variant (src/instrumentations/index.ts): sidetrace's
// server spans (../http-server/server.ts) and client spans (./client.ts: on
// Node's http.client.* channels where it has them, else a wrap of
// http/https.request and get).
import type { Instrumentation, InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { HttpServerInstrumentation } from '../http-server/server';
import { HttpClientInstrumentation } from './client';
import { hasClientRequestCreatedChannel } from './channels';

export { hasClientRequestCreatedChannel };

export class HttpInstrumentation implements Instrumentation {
  readonly instrumentationName = 'sidetrace-http';
  readonly instrumentationVersion: string;
  private readonly parts: Instrumentation[];

  constructor(private settings: InstrumentationConfig = {}) {
    const server = new HttpServerInstrumentation(settings);
    this.parts = [server, new HttpClientInstrumentation(settings)];
    this.instrumentationVersion = server.instrumentationVersion;
  }

  setTracerProvider(provider: TracerProvider): void {
    for (const p of this.parts) p.setTracerProvider(provider);
  }
  setMeterProvider(provider: MeterProvider): void {
    for (const p of this.parts) p.setMeterProvider(provider);
  }
  setConfig(config: InstrumentationConfig): void {
    this.settings = config;
    for (const p of this.parts) p.setConfig(config);
  }
  getConfig(): InstrumentationConfig {
    return this.settings;
  }
  enable(): void {
    for (const p of this.parts) p.enable();
  }
  // In reverse: both wrap IncomingMessage#emit, and each puts back what it found.
  disable(): void {
    for (const p of [...this.parts].reverse()) p.disable();
  }
}
