// Runs a batch of jobs with at most `limit` in flight (commits of a scheduling pass, status
// writes): every job runs even when one fails; the first error is thrown once all have ended.
/** Runs every job, at most `limit` at a time; rejects with the first error after all ended. */
export async function runLimited(jobs: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, () => worker()));
  if (errors.length > 0) throw errors[0];
}
