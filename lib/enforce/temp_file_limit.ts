/**
 * `temp_file_limit` for limited roles (issue 12): a role setting equal to the role's hard limit, so
 * that no single session (each process, parallel workers included) can spill more than the whole
 * quota before the live count of temporary files locks it. temp_file_limit is superuser-only, so
 * the setting is made by `postgres_monitor.set_temp_file_limit()` (sql/install_control.sql), which
 * never raises a value someone else set that is at least as strict, and puts back the role's own
 * value when it is no longer limited. A role setting binds sessions that start afterwards.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import type { EffectiveLimit } from "../evaluate/resolve.ts";
import { errorMessage, type Logger } from "../report/log.ts";

/** The largest temp_file_limit PostgreSQL accepts, in kB (INT_MAX: about 2 TiB). */
export const MAX_TEMP_FILE_LIMIT_KB = 2147483647;

/** temp_file_limit (kB) for a hard limit in bytes: never more than the hard limit. */
export function tempFileLimitKb(hardLimitBytes: number): number {
  return Math.max(0, Math.min(Math.floor(hardLimitBytes / 1024), MAX_TEMP_FILE_LIMIT_KB));
}

/** What should be set: every limited role that is not protected (or exempt), by oid. */
export function wantedLimits(limits: ReadonlyMap<number, EffectiveLimit>): Map<number, number> {
  const wanted = new Map<number, number>();
  for (const [oid, l] of limits) {
    if (l.protectedReason === null) wanted.set(oid, tempFileLimitKb(l.limit.hard_limit));
  }
  return wanted;
}

interface Applied {
  kb: number | null;
  setting: string | null;
}

/**
 * Keeps the limited roles' temp_file_limit settings as {@linkcode wantedLimits} says. Each
 * {@linkcode apply} costs one catalog query; a role is changed only when its wanted value or its
 * stored setting differs from what this daemon saw last (start, limit reload, new limited role,
 * an operator's change).
 */
export class TempFileLimits {
  #control: Sql;
  #log: Logger;
  #applied = new Map<number, Applied>();

  /** Acts through `control` (the control database); logs every change. */
  constructor(control: Sql, log: Logger) {
    this.#control = control;
    this.#log = log;
  }

  /**
   * Sets, keeps or restores settings for `limits`. In a dry run it logs what it would set and
   * changes nothing. Failures are logged and retried at the next call; it never throws.
   */
  async apply(limits: ReadonlyMap<number, EffectiveLimit>, dryRun: boolean): Promise<void> {
    const wanted = wantedLimits(limits);
    let rows;
    try {
      rows = await this.#control.unsafe(sqlFile("temp_file_limits"), [
        JSON.stringify([...wanted.keys()].map(String)),
      ]);
    } catch (err) {
      this.#log.warn("cannot read temp_file_limit settings", { error: errorMessage(err) });
      return;
    }
    for (const r of rows) {
      const oid = Number(r.roleid);
      const setting = r.setting === null ? null : String(r.setting);
      const kb = wanted.get(oid) ?? null;
      // Not limited and never set by this daemon: nothing to do.
      if (kb === null && !r.ours) {
        this.#applied.delete(oid);
        continue;
      }
      const last = this.#applied.get(oid);
      if (last && last.kb === kb && last.setting === setting) continue;
      const role = limits.get(oid)?.role.name ?? String(oid);
      if (dryRun) {
        if (kb !== null && setting !== String(kb)) {
          this.#log.info("dry run: would set temp_file_limit", { role, kb, setting });
        }
        this.#applied.set(oid, { kb, setting });
        continue;
      }
      try {
        const [res] = await this.#control.unsafe(sqlFile("set_temp_file_limit"), [
          String(oid),
          kb === null ? null : String(kb),
        ]);
        const result = String(res?.result);
        const now = res?.setting === null || res?.setting === undefined
          ? null
          : String(res.setting);
        this.#applied.set(oid, { kb, setting: now });
        const fields = { role, kb, before: setting, after: now };
        if (result === "set") this.#log.info("temp_file_limit set", fields);
        else if (result === "kept") {
          this.#log.info("temp_file_limit kept: a stricter value was set by someone else", fields);
        } else if (result === "restored") {
          this.#log.info("temp_file_limit restored: the role is no longer limited", fields);
        } else this.#log.debug("temp_file_limit unchanged", { ...fields, result });
      } catch (err) {
        // A role no longer limited that became protected keeps its setting: said once.
        if (kb === null) this.#applied.set(oid, { kb, setting });
        else this.#applied.delete(oid);
        this.#log.warn("cannot set temp_file_limit, will retry", {
          role,
          kb,
          error: errorMessage(err),
        });
      }
    }
  }
}
