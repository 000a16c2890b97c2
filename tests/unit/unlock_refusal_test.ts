/** `unlock ROLE`'s refusals, on a measured snapshot (lib/commands/unlock.ts). */
import assert from "node:assert/strict";
import { unlockRefusal } from "../../lib/commands/unlock.ts";
import type { LockRow } from "../../lib/enforce/enforcer.ts";
import { ownPlan } from "../../lib/evaluate/charges.ts";
import type { EffectiveLimit } from "../../lib/evaluate/resolve.ts";
import type { Snapshot } from "../../lib/measure/snapshot.ts";
import { UsageCache } from "../../lib/measure/usage_cache.ts";

const OID = 40_000;
const HARD = 2_000;

function snapshot(usage: number, extra: Partial<Snapshot> = {}): Snapshot {
  const limit: EffectiveLimit = {
    role: {
      oid: OID,
      name: "alice",
      superuser: false,
      replication: false,
      can_login: false,
      is_self: false,
      groups: [],
    },
    limit: {
      user: "alice",
      soft_limit: 1_000,
      hard_limit: HARD,
      manual_unlock: true,
      hard_grace_period: 0,
      unlock_grace_period: 0,
      index: 0,
    },
    source: "user",
    protectedReason: null,
  };
  const lock: LockRow = {
    oid: OID,
    name: "alice",
    locked_at: new Date(0),
    reason: "over",
    usage_bytes: usage,
    manual_unlock: true,
    prior_canlogin: true,
    role_exists: true,
    can_login: false,
    sessions: 0,
  };
  return {
    limits: new Map([[OID, limit]]),
    charges: ownPlan([OID]),
    usage: () => usage,
    cache: new UsageCache(),
    locks: new Map([[OID, lock]]),
    missing: [],
    failed: [],
    busy: new Map(),
    ...extra,
  };
}

Deno.test("unlockRefusal() allows a locked role measured completely at or under its hard limit", () => {
  assert.equal(unlockRefusal("alice", OID, snapshot(HARD)), undefined);
});

Deno.test("unlockRefusal() refuses a role the daemon has not locked", () => {
  assert.match(
    unlockRefusal("alice", OID, snapshot(0, { locks: new Map() })) ?? "",
    /it is not locked by this daemon/,
  );
});

Deno.test("unlockRefusal() refuses on a partial measurement, naming what was missed", () => {
  const failed = unlockRefusal("alice", OID, snapshot(0, { failed: ["db1: timeout"] }));
  assert.match(failed ?? "", /could not be measured completely \(db1: timeout\); try again/);
  const busy = unlockRefusal("alice", OID, snapshot(0, { busy: new Map([[OID, 2]]) }));
  assert.match(busy ?? "", /\(2 table\(s\) locked exclusively\)/);
});

Deno.test("unlockRefusal() refuses a role still over its hard limit", () => {
  assert.match(
    unlockRefusal("alice", OID, snapshot(HARD + 1)) ?? "",
    /usage 2001 B is still over its hard limit 2000 B/,
  );
});
