// Checks of what a caller hands in (options, a carrier, a batch range). Bad
// input is a programming error in the migration script, so it is thrown as
// one Error naming the field, what it must be and what it was.

const NAME = /^[^\u0000-\u001f\u007f]{1,128}$/;
// Safe in a Redis key, a BullMQ job id (no ':') and a backend's tag search.
const RUN_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

export function fail(where: string, field: string, rule: string, value: unknown): never {
  throw new Error(`${where}: ${field} must be ${rule} (got ${describe(value)})`);
}

export function checkName(where: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || !NAME.test(value)) {
    fail(where, field, "a non-empty string of at most 128 characters naming the migration, e.g. 'backfill-previews'", value);
  }
  return value;
}

export function checkRunId(where: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || !RUN_ID.test(value)) fail(where, field, 'a string of 1 to 128 letters, digits, dots, dashes or underscores', value);
  return value;
}

export function checkInteger(where: string, field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(where, field, min === 0 ? 'an integer ≥ 0' : `an integer ≥ ${min}`, value);
  }
  return value;
}
