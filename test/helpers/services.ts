// One PostgreSQL and one Redis per test file (or DATABASE_URL / REDIS_URL when
// set): started in `before`, stopped and removed in `after`, even on failure.
import { after, before } from 'node:test';
import { startServices, type StartServicesOptions } from '../../scripts/services-lib.mjs';

export interface TestServices {
  databaseUrl: string;
  redisUrl: string;
}

/** Call at the top level of a test file; the returned object is filled in before the first test runs. */
export function useServices(options: StartServicesOptions = { postgres: true, redis: true }): TestServices {
  const urls = { databaseUrl: '', redisUrl: '' };
  let stop: (() => Promise<void>) | undefined;
  before(async () => {
    const services = await startServices(options);
    stop = services.stop;
    urls.databaseUrl = services.databaseUrl ?? '';
    urls.redisUrl = services.redisUrl ?? '';
  });
  after(async () => {
    await stop?.();
  });
  return urls;
}
