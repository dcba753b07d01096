export const ROUND: Readonly<Record<string, number>>;
export interface TrafficOptions {
  baseUrl: string;
  rounds?: number;
  durationMs?: number;
  intervalMs?: number;
  signal?: AbortSignal;
}
export interface TrafficResult {
  rounds: number;
  requests: number;
  byRoute: Record<string, number>;
  unexpected: string[];
}
export function runTraffic(options: TrafficOptions): Promise<TrafficResult>;
