/**
 * Polls `check` until it returns a value other than undefined, or fails after `deadlineMs`. For
 * waiting on reconnects and readiness without fixed sleeps.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
