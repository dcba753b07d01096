// Types of otlp-decode.mjs.
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number; // 1 internal, 2 server, 3 client, 4 producer, 5 consumer
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: { name: string; attributes: Attributes }[];
  links: { traceId: string; spanId: string; attributes: Attributes }[];
  status: { code: number; message: string }; // 0 unset, 1 ok, 2 error
  resource: Attributes;
  scope: { name: string; version: string };
}

export function decodeTraceRequest(body: Buffer, contentType: string): ReceivedSpan[];
export function countProtobufSpans(buf: Buffer): number;
export function countJsonSpans(text: string): number;
export function countSpans(body: Buffer, contentType: string): number;
