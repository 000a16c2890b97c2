/** Issue 12, case 2: the pure rule that charges a group's storage to its members. */
import assert from "node:assert/strict";
import { ConfigError, type LimitEntry, parseLimits } from "../../lib/config/mod.ts";
import {
  affectedRoles,
  chargedBreakdown,
  chargedUsage,
  type GroupInfo,
  ownPlan,
  planCharges,
} from "../../lib/evaluate/charges.ts";
import { evaluate, initialState } from "../../lib/evaluate/evaluator.ts";
import { resolveLimits, type RoleInfo } from "../../lib/evaluate/resolve.ts";

const MB = 1024 * 1024;
let nextOid = 30_000;

function role(name: string, groups: string[] = [], extra: Partial<RoleInfo> = {}): RoleInfo {
  return {
    oid: nextOid++,
    name,
    superuser: false,
    replication: false,
    can_login: true,
    is_self: false,
    groups,
    ...extra,
  };
}

function group(name: string, members: RoleInfo[], extra: Partial<GroupInfo> = {}): GroupInfo {
  return {
    oid: nextOid++,
    name,
    superuser: false,
    replication: false,
    is_self: false,
    members: members.map((m) => m.oid),
    ...extra,
  };
}

function entry(extra: Partial<LimitEntry>, index: number): LimitEntry {
  return {
    soft_limit: 1 * MB,
    hard_limit: 2 * MB,
    manual_unlock: false,
    hard_grace_period: 0,
    unlock_grace_period: 0,
    index,
    ...extra,
  };
}

Deno.test("an unlimited group's storage is charged in full to every limited member", () => {
  const a = role("a", ["tenants"]);
  const b = role("b", ["tenants"]);
  const tenants = group("tenants", [a, b]);
  const { limits } = resolveLimits([entry({ member_of: "tenants" }, 0)], [a, b]);
  const plan = planCharges(limits, [tenants]);
  assert.deepEqual(new Set(plan.owners), new Set([a.oid, b.oid, tenants.oid]));
  assert.deepEqual(plan.dependents.get(tenants.oid)?.sort(), [a.oid, b.oid].sort());
  assert.deepEqual(plan.chargedGroups.get(a.oid), ["tenants"]);
  const own = new Map([[a.oid, 1], [b.oid, 10], [tenants.oid, 100]]);
  assert.equal(chargedUsage(plan, a.oid, (o) => own.get(o) ?? 0), 101);
  assert.equal(chargedUsage(plan, b.oid, (o) => own.get(o) ?? 0), 110);
  // A write into the group's table re-evaluates both members; a's own write only a.
  assert.deepEqual(affectedRoles(plan, [tenants.oid]), new Set([a.oid, b.oid]));
  assert.deepEqual(affectedRoles(plan, [a.oid]), new Set([a.oid]));
});

Deno.test("protected groups, limited groups and groups of no limited role are not charged", () => {
  const a = role("a");
  const su = group("su", [a], { superuser: true });
  const repl = group("repl", [a], { replication: true });
  const self = group("mon", [a], { is_self: true });
  const exempt = group("ex", [a]);
  const limitedGroup = role("lg", [], { can_login: false });
  const lg = group("lg", [a]);
  lg.oid = limitedGroup.oid;
  const stranger = group("stranger", []);
  const { limits } = resolveLimits(
    [entry({ user: "a" }, 0), entry({ user: "lg" }, 1)],
    [a, limitedGroup],
  );
  const plan = planCharges(limits, [su, repl, self, exempt, lg, stranger], ["ex"]);
  assert.deepEqual(new Set(plan.owners), new Set([a.oid, limitedGroup.oid]));
  assert.deepEqual(plan.contributors.get(a.oid), [a.oid]);
  // The limited group answers for its own storage only.
  assert.deepEqual(plan.contributors.get(limitedGroup.oid), [limitedGroup.oid]);
  assert.deepEqual(plan.chargedGroups.get(a.oid), []);
});

Deno.test("a shared budget sums the group and every unprotected member it limits, once each", () => {
  const a = role("a", ["team"]);
  const b = role("b", ["team"]);
  const own = role("own", ["team"]); // explicit user entry: not in the budget
  const ex = role("ex", ["team"]); // exempt: reported with the budget, its bytes left out
  const team = group("team", [a, b, own, ex]);
  const side = group("side", [a, b]); // an unlimited group both belong to: counted once
  const entries = [entry({ member_of: "team", shared: true }, 0), entry({ user: "own" }, 1)];
  const { limits } = resolveLimits(entries, [a, b, own, ex], ["ex"]);
  assert.equal(limits.get(a.oid)?.shared, "team");
  assert.equal(limits.get(a.oid)?.source, "member_of 'team' (shared)");
  assert.equal(limits.get(own.oid)?.shared, undefined);
  const plan = planCharges(limits, [team, side], ["ex"]);
  const bytes = new Map([
    [a.oid, 1],
    [b.oid, 10],
    [own.oid, 100],
    [ex.oid, 1000],
    [team.oid, 10_000],
    [side.oid, 100_000],
  ]);
  const usage = (oid: number) => chargedUsage(plan, oid, (o) => bytes.get(o) ?? 0);
  assert.equal(usage(a.oid), 110_011);
  assert.equal(usage(b.oid), 110_011);
  assert.equal(usage(ex.oid), 111_011);
  // The member with its own entry still answers for the groups it can write into.
  assert.equal(usage(own.oid), 10_100);
  assert.deepEqual(plan.chargedGroups.get(a.oid), ["side", "team"]);
  // One member's write re-evaluates the whole budget.
  assert.deepEqual(affectedRoles(plan, [a.oid]), new Set([a.oid, b.oid, ex.oid]));
  const kinds = chargedBreakdown(plan, a.oid, (o) => ({ tables: bytes.get(o) ?? 0, toast: 1 }));
  assert.deepEqual(kinds, { tables: 110_011, toast: 4 });
});

Deno.test("ownPlan charges every role only what it owns", () => {
  const plan = ownPlan([1, 2]);
  assert.deepEqual(plan.owners, [1, 2]);
  assert.equal(chargedUsage(plan, 1, (o) => o * 10), 10);
  assert.equal(chargedUsage(plan, 99, (o) => o * 10), 990);
});

Deno.test("a shared budget's decisions name the group", () => {
  const a = role("a", ["team"]);
  const { limits } = resolveLimits([entry({ member_of: "team", shared: true }, 0)], [a]);
  const r = evaluate({
    usage: 3 * MB,
    limit: limits.get(a.oid)!,
    state: initialState(),
    now: 0,
    softWarningIntervalMs: 0,
  });
  assert.deepEqual(r.decisions.map((d) => d.kind), ["soft_exceeded", "hard_exceeded", "lock"]);
  for (const d of r.decisions) assert.match(d.reason, /^shared budget of group 'team': usage /);
});

Deno.test("'shared' is validated: a boolean, on member_of entries only", () => {
  const doc = (e: Record<string, unknown>) =>
    JSON.stringify({ user_limits: [{ soft_limit: 1, hard_limit: 2, ...e }] });
  const [ok] = parseLimits(doc({ member_of: "team", shared: true }), "f.json");
  assert.equal(ok?.shared, true);
  const [off] = parseLimits(doc({ member_of: "team", shared: false }), "f.json");
  assert.equal(off?.shared, undefined);
  const err = (e: Record<string, unknown>) => {
    try {
      parseLimits(doc(e), "f.json");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail("no error");
  };
  assert.match(
    err({ member_of: "team", shared: "yes" }),
    /user_limits\[0\] \(member_of 'team'\).*Key 'shared' must be a boolean, got string/,
  );
  assert.match(
    err({ user: "bob", shared: true }),
    /user_limits\[0\] \(user 'bob'\).*'shared' applies to 'member_of' entries only/,
  );
});
