/**
 * Whether a database's postgres_monitor schema is the one `install` made (sql/schema_trust.sql):
 * judged by who owns it and what is in it, never by name, because a tenant that owns a database
 * can create a schema and functions of that name, and calling them would run its code as the
 * monitoring role.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";

/** What sql/schema_trust.sql found. */
export interface SchemaTrust {
  /** installed: safe to call; untrusted: never call; absent: not (fully) installed. */
  state: "installed" | "absent" | "untrusted";
  /** Who owns what, who may create, what is missing ("" when installed). */
  detail: string;
  /** Non-superuser owners of objects in the schema, and roles (or PUBLIC) that may CREATE in it. */
  owners: string[];
}

/**
 * Checks the postgres_monitor schema of the connected database; `control` also requires the
 * control database's tables and functions.
 */
export async function schemaTrust(sql: Sql, control: boolean): Promise<SchemaTrust> {
  const [row] = await sql.unsafe(sqlFile("schema_trust"), [control]);
  const state = String(row?.state);
  return {
    state: state === "installed" || state === "untrusted" ? state : "absent",
    detail: String(row?.detail ?? ""),
    owners: Array.isArray(row?.owners) ? row.owners.map(String) : [],
  };
}

/** Raised when the control database's postgres_monitor schema cannot be used. */
export class UntrustedControlError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UntrustedControlError";
  }
}

/**
 * Throws {@linkcode UntrustedControlError} unless the control database's schema is installed and
 * trusted: lock_role, unlock_role and the state tables are used only then.
 */
export async function requireTrustedControl(sql: Sql, database: string): Promise<void> {
  const trust = await schemaTrust(sql, true);
  if (trust.state === "installed") return;
  throw new UntrustedControlError(
    trust.state === "untrusted"
      ? `The postgres_monitor schema in control database '${database}' is not trusted and will not be used (${trust.detail}): a superuser must drop it and run 'install' again`
      : `The postgres_monitor schema is missing in control database '${database}'${
        trust.detail ? ` (${trust.detail})` : ""
      }: run 'install' as a superuser`,
  );
}
