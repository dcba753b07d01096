// A GitHub Actions run's deploy trace id, derived from the run so that anyone
// holding the run (its URL, or `gh run view`) can compute it and look the
// trace up: the first 16 bytes of SHA-256 over
// "github-actions/<owner>/<repo>/<run id>/<run attempt>".
// Run ids are unique per repository, hence the repository in the input; a
// re-run is a new attempt and gets its own trace.
import { createHash } from 'node:crypto';

export interface GithubRun {
  repository: string;
  runId: string;
  runAttempt: string;
}

export function githubRunTraceId(run: GithubRun): string {
  const id = createHash('sha256').update(`github-actions/${run.repository}/${run.runId}/${run.runAttempt}`).digest('hex').slice(0, 32);
  // An all-zero id is invalid in W3C trace context; SHA-256 will not produce
  // one in practice, but the id must be valid whatever the input.
  return /^0+$/.test(id) ? `${id.slice(0, 31)}1` : id;
}
