import assert from "node:assert/strict";
import type { LimitEntry } from "../../lib/config/limits.ts";
import { protectedReason, resolveLimits, type RoleInfo } from "../../lib/evaluate/resolve.ts";

const MB = 1024 * 1024;

let nextOid = 20_000;

function role(name: string, extra: Partial<RoleInfo> = {}): RoleInfo {
  return {
    oid: nextOid++,
    name,
    superuser: false,
    replication: false,
    can_login: true,
    is_self: false,
    groups: [],
    ...extra,
  };
}

function userEntry(user: string, hardMb: number, index: number): LimitEntry {
  return {
    user,
    soft_limit: (hardMb - 1) * MB,
    hard_limit: hardMb * MB,
    manual_unlock: false,
    hard_grace_period: 0,
    unlock_grace_period: 0,
    index,
  };
}

function groupEntry(group: string, hardMb: number, index: number): LimitEntry {
  return {
    member_of: group,
    soft_limit: (hardMb - 1) * MB,
    hard_limit: hardMb * MB,
    manual_unlock: false,
    hard_grace_period: 0,
    unlock_grace_period: 0,
    index,
  };
}

Deno.test("resolveLimits() applies a user entry to the role of that name", () => {
  const alice = role("alice");
  const entry = userEntry("alice", 10, 0);
  const { limits, missing } = resolveLimits([entry], [alice]);
  const got = limits.get(alice.oid);
  assert.ok(got);
  assert.equal(got.limit, entry);
  assert.equal(got.role, alice);
  assert.equal(got.source, "user");
  assert.equal(got.protectedReason, null);
  assert.deepEqual(missing, []);
});

Deno.test("resolveLimits() gives no limit to roles not named by any entry", () => {
  const alice = role("alice");
  const bob = role("bob", { groups: ["unlimited"] });
  const { limits } = resolveLimits([userEntry("alice", 10, 0)], [alice, bob]);
  assert.equal(limits.size, 1);
  assert.equal(limits.has(bob.oid), false);
});

Deno.test("resolveLimits() matches role names case-sensitively", () => {
  const upper = role("Alice");
  const { limits, missing } = resolveLimits([userEntry("alice", 10, 0)], [upper]);
  assert.equal(limits.size, 0);
  assert.deepEqual(missing, ["alice"]);
});

Deno.test("resolveLimits() lets an explicit user entry beat a stricter group entry", () => {
  const alice = role("alice", { groups: ["devs"] });
  const own = userEntry("alice", 500, 1);
  const { limits } = resolveLimits([groupEntry("devs", 10, 0), own], [alice]);
  const got = limits.get(alice.oid);
  assert.equal(got?.limit, own);
  assert.equal(got?.source, "user");
});

Deno.test("resolveLimits() gives group members the group's limit with its source", () => {
  const devs = role("devs", { can_login: false });
  const alice = role("alice", { groups: ["devs"] });
  const entry = groupEntry("devs", 10, 0);
  const { limits } = resolveLimits([entry], [devs, alice]);
  assert.equal(limits.get(alice.oid)?.limit, entry);
  assert.equal(limits.get(alice.oid)?.source, "member_of 'devs'");
  // The group role itself is not a member of itself.
  assert.equal(limits.has(devs.oid), false);
});

Deno.test("resolveLimits() picks the group with the lowest hard_limit whatever the order", () => {
  const strict = groupEntry("strict", 5, 1);
  const loose = groupEntry("loose", 50, 0);
  for (const groups of [["loose", "strict"], ["strict", "loose"]]) {
    const alice = role("alice", { groups });
    const { limits } = resolveLimits([loose, strict], [alice]);
    assert.equal(limits.get(alice.oid)?.limit, strict, `groups ${groups.join(",")}`);
    assert.equal(limits.get(alice.oid)?.source, "member_of 'strict'");
  }
});

Deno.test("resolveLimits() breaks a hard_limit tie by position in the file", () => {
  const first = groupEntry("a_group", 10, 0);
  const second = groupEntry("b_group", 10, 1);
  for (const groups of [["a_group", "b_group"], ["b_group", "a_group"]]) {
    const alice = role("alice", { groups });
    const { limits } = resolveLimits([first, second], [alice]);
    assert.equal(limits.get(alice.oid)?.limit, first, `groups ${groups.join(",")}`);
  }
});

Deno.test("resolveLimits() ignores groups of a role that have no entry", () => {
  const alice = role("alice", { groups: ["other", "devs"] });
  const entry = groupEntry("devs", 10, 0);
  const { limits } = resolveLimits([entry], [alice]);
  assert.equal(limits.get(alice.oid)?.limit, entry);
});

Deno.test("resolveLimits() reports users and groups that match no role as missing", () => {
  const alice = role("alice");
  const { limits, missing } = resolveLimits(
    [userEntry("alice", 10, 0), userEntry("ghost", 10, 1), groupEntry("phantoms", 10, 2)],
    [alice],
  );
  assert.equal(limits.size, 1);
  assert.deepEqual([...missing].sort(), ["ghost", "phantoms"]);
});

Deno.test("resolveLimits() does not report an existing group role with no members as missing", () => {
  const empty = role("empty_group", { can_login: false });
  const { limits, missing } = resolveLimits([groupEntry("empty_group", 10, 0)], [empty]);
  assert.deepEqual(missing, []);
  assert.equal(limits.size, 0);
});

Deno.test("resolveLimits() does not report a group as missing when a role is a member of it", () => {
  // The group role itself is not in the role list (list_roles.sql may omit it).
  const alice = role("alice", { groups: ["devs"] });
  const { missing } = resolveLimits([groupEntry("devs", 10, 0)], [alice]);
  assert.deepEqual(missing, []);
});

Deno.test("resolveLimits() does not report a user as missing when it is also in a limited group", () => {
  const alice = role("alice", { groups: ["devs"] });
  const { missing } = resolveLimits(
    [groupEntry("devs", 10, 0), userEntry("alice", 20, 1)],
    [alice],
  );
  assert.deepEqual(missing, []);
});

Deno.test("resolveLimits() marks roles named in exempt_roles as protected", () => {
  const alice = role("alice");
  const bob = role("bob");
  const { limits } = resolveLimits(
    [userEntry("alice", 10, 0), userEntry("bob", 10, 1)],
    [alice, bob],
    ["bob"],
  );
  assert.equal(limits.get(alice.oid)?.protectedReason, null);
  assert.equal(limits.get(bob.oid)?.protectedReason, "listed in exempt_roles");
});

Deno.test("resolveLimits() marks superuser group members as protected", () => {
  const admin = role("admin", { superuser: true, groups: ["devs"] });
  const { limits } = resolveLimits([groupEntry("devs", 10, 0)], [admin]);
  assert.equal(limits.get(admin.oid)?.protectedReason, "superuser");
});

Deno.test("protectedReason() protects superusers", () => {
  assert.equal(protectedReason(role("root", { superuser: true }), new Set()), "superuser");
});

Deno.test("protectedReason() protects replication roles", () => {
  assert.equal(
    protectedReason(role("replicator", { replication: true }), new Set()),
    "replication role",
  );
});

Deno.test("protectedReason() protects the monitoring role itself", () => {
  assert.equal(
    protectedReason(role("monitor_user", { is_self: true }), new Set()),
    "the monitoring role itself",
  );
});

Deno.test("protectedReason() protects roles listed in exempt_roles", () => {
  assert.equal(protectedReason(role("ci"), new Set(["ci"])), "listed in exempt_roles");
});

Deno.test("protectedReason() returns null for an ordinary role", () => {
  assert.equal(protectedReason(role("alice"), new Set(["bob"])), null);
});

Deno.test("protectedReason() names superuser first when several reasons apply", () => {
  const everything = role("x", { superuser: true, replication: true, is_self: true });
  assert.equal(protectedReason(everything, new Set(["x"])), "superuser");
});
