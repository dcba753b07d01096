// Which Node.js versions sidetrace supports, and when each major reaches end of
// life (the Node.js release schedule). `sidetrace doctor` prints the running
// Node's status from this table.
//
// Table written 2026-11-30; add a row for each new major.
export const SUPPORTED_RANGE = '>=20.6.0';
/** The majors CI runs (scripts/test-matrix.sh). */
export const TESTED_MAJORS = [20, 22, 24, 26];

const END_OF_LIFE: Record<number, string> = {
  18: '2025-04-30',
  19: '2023-06-01',
  20: '2026-04-30',
  21: '2024-06-01',
  22: '2027-04-30',
  23: '2025-06-01',
  24: '2028-04-30',
  25: '2026-06-01',
  26: '2029-04-30',
};

export interface NodeStatus {
  version: string;
  supported: boolean;
  endOfLife?: string;
  pastEndOfLife: boolean;
}

export function nodeStatus(version = process.versions.node, today = new Date()): NodeStatus {
  const [major, minor] = version.split('.').map(Number);
  const endOfLife = END_OF_LIFE[major];
  return {
    version,
    supported: major > 20 || (major === 20 && minor >= 6),
    endOfLife,
    pastEndOfLife: endOfLife !== undefined && today.toISOString().slice(0, 10) > endOfLife,
  };
}

/** The oldest even major that has not reached its end of life. */
function nextLts(today = new Date()): number | undefined {
  const day = today.toISOString().slice(0, 10);
  return Object.entries(END_OF_LIFE)
    .map(([m, eol]) => [Number(m), eol] as const)
    .find(([m, eol]) => m % 2 === 0 && eol >= day)?.[0];
}

/** One line for doctor: the version, whether it is supported, and its end of life. */
export function describeNode(status: NodeStatus = nodeStatus()): string {
  const range = `supported: Node ${SUPPORTED_RANGE.replace('>=', '≥ ')}, tested on ${TESTED_MAJORS.join(', ')}`;
  if (!status.supported) return `v${status.version} is NOT supported (${range})`;
  if (status.pastEndOfLife) {
    const next = nextLts() ? `Node ${nextLts()} or later` : 'a supported Node';
    return `v${status.version} is past its end of life (${status.endOfLife}) and gets no security fixes; move to ${next} (${range})`;
  }
  return `v${status.version}${status.endOfLife ? `, end of life ${status.endOfLife}` : ''} (${range})`;
}
