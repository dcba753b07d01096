// Whether this Node publishes `http.client.request.created`: fired at the end
// of the ClientRequest constructor, in the caller's context and before any
// header is sent, so a subscriber can start the span and set `traceparent`.
// Added in Node 23.2.0 and 22.12.0. Node 20 has `http.client.request.start`,
// which fires from `_finish()`, after the headers are written: too late to
// inject. Free of imports: the start-up line and doctor read it.
export function hasClientRequestCreatedChannel(version: string = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 2) || (major === 22 && minor >= 12);
}
