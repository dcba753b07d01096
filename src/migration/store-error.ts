// Errors from a checkpoint store, wrapped to say which run and step failed.
export function storeError(what: string, err: unknown): Error {
  return new Error(`sidetrace migration: the checkpoint store could not ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
