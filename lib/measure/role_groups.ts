/**
 * The groups of the limited roles, read from the control database (pg_auth_members is shared):
 * what lib/evaluate/charges.ts needs to charge a group's storage to its members.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import type { GroupInfo } from "../evaluate/charges.ts";
import { roleIdentity } from "./catalog.ts";

/** Every role the given limited roles are direct or indirect members of (sql/role_groups.sql). */
export async function roleGroups(sql: Sql, limited: readonly number[]): Promise<GroupInfo[]> {
  if (limited.length === 0) return [];
  const rows = await sql.unsafe(sqlFile("role_groups"), [JSON.stringify(limited)]);
  return rows.map((r) => ({
    ...roleIdentity(r),
    members: Array.isArray(r.members) ? r.members.map(Number) : [],
  }));
}
