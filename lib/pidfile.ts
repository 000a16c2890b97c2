/**
 * A PID file held with an exclusive advisory lock (flock) for the daemon's lifetime, so two
 * daemons never run against the same configuration on one host.
 *
 * @module
 */

/** Raised when another process holds the lock. */
export class PidFileLockedError extends Error {
  /** Creates the error for a path and the pid found in it. */
  constructor(path: string, holder: string) {
    super(
      `Cannot lock pid file '${path}': another instance is running (pid ${holder || "unknown"})`,
    );
    this.name = "PidFileLockedError";
  }
}

/** A held PID file. */
export interface PidFile {
  /** Path of the file. */
  path: string;
  /** Unlocks, truncates and closes the file. */
  release(): void;
}

/** Opens (creating) `path`, takes an exclusive lock without waiting, writes our pid. */
export async function acquirePidFile(path: string): Promise<PidFile> {
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
  if (!(await file.tryLock(true))) {
    let holder = "";
    try {
      holder = (await Deno.readTextFile(path)).trim();
    } catch {
      // unreadable: report without the pid
    }
    file.close();
    throw new PidFileLockedError(path, holder);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      try {
        file.truncateSync(0);
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}
