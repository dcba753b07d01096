// Cursor arithmetic (semantics in checkpoint.ts): which batch a cursor falls
// in, and the batches that cover a cursor range.
import type { BatchRange } from './batch';

export interface RunShape {
  origin: number;
  /** Undefined: not known (a run that cannot count its records up front). */
  total: number | undefined;
  batchSize: number;
}

export function batchIndexOf(shape: RunShape, cursor: number): number {
  return Math.floor((cursor - shape.origin) / shape.batchSize);
}

/** The run's last cursor (origin − 1 for an empty run); undefined when the total is not known. */
export function lastCursor(shape: RunShape): number | undefined {
  return shape.total === undefined ? undefined : shape.origin + shape.total - 1;
}

/** Batches covering `from … to` (inclusive), cut at the batch boundaries of the run. */
export function* planBatches(shape: RunShape, from: number, to: number): Generator<Required<BatchRange>> {
  if (to < from) return;
  for (let index = batchIndexOf(shape, from); index <= batchIndexOf(shape, to); index++) {
    const start = shape.origin + index * shape.batchSize;
    yield { index, cursorStart: Math.max(from, start), cursorEnd: Math.min(to, start + shape.batchSize - 1) };
  }
}

/** Where a run resumes when batches 0 … nextBatch − 1 are committed. */
export function resumeCursor(shape: RunShape, nextBatch: number): number {
  const next = shape.origin + nextBatch * shape.batchSize;
  return shape.total === undefined ? next : Math.min(next, shape.origin + shape.total);
}
