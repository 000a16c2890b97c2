/**
 * The config parser, fuzzed: thousands of seeded mutations of valid files either load into a
 * config that satisfies every invariant or throw a ConfigError with a message; nothing else
 * (no TypeError, no RangeError, no partial config).
 */
import assert from "node:assert/strict";
import { ConfigError, parseLimits } from "../../lib/config/mod.ts";
import { defaultMonitorConfig, parseMonitorConfig } from "../../lib/config/monitor.ts";
import { mutate } from "../_fuzz.ts";

/** Cases per parser; FUZZ_CASES=50000 for a longer run. */
const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 3000);

const LIMITS = {
  user_limits: [
    { user: "dev_user", soft_limit: 5000000000, hard_limit: 10000000000, manual_unlock: false },
    {
      user: "analytics",
      soft_limit: "20GB",
      hard_limit: "30GB",
      manual_unlock: true,
      hard_grace_period: 60,
    },
    { member_of: "tenants", soft_limit: "1GB", hard_limit: "2GB", unlock_grace_period: 300 },
  ],
};

const MONITOR = {
  host: "localhost",
  port: 5432,
  user: "monitor_user",
  databases: ["app", "other"],
  exempt_roles: ["postgres"],
  sweep_interval: 60,
  slack_enabled: true,
  slack_webhook_url: "https://hooks.slack.com/services/T0/B0/x",
  webhooks: [{
    name: "ops",
    url: "https://hooks.example.com/x",
    secret: "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
  }],
  metrics_listen: "127.0.0.1:9187",
  log_level: "info",
};

/** Runs `parse` on `text`: true if it loaded, false if it was rejected properly. */
function outcome<T>(seed: number, text: string, parse: () => T, check: (v: T) => void): boolean {
  let value: T;
  try {
    value = parse();
  } catch (err) {
    assert.ok(
      err instanceof ConfigError,
      `seed ${seed}: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}\n${text}`,
    );
    assert.ok(err.message.length > 0 && err.problems.length > 0, `seed ${seed}: empty error`);
    return false;
  }
  check(value);
  return true;
}

Deno.test(`parseLimits(): ${CASES} mutated files each load whole or fail with a ConfigError`, () => {
  let loaded = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const text = mutate(LIMITS, seed);
    const ok = outcome(seed, text, () => parseLimits(text, "user_limits.json"), (entries) => {
      for (const e of entries) {
        assert.ok((e.user === undefined) !== (e.member_of === undefined), `seed ${seed}`);
        assert.ok(Number.isSafeInteger(e.soft_limit) && e.soft_limit >= 0, `seed ${seed}`);
        assert.ok(
          Number.isSafeInteger(e.hard_limit) && e.hard_limit > e.soft_limit,
          `seed ${seed}`,
        );
        assert.equal(typeof e.manual_unlock, "boolean", `seed ${seed}`);
        assert.ok(e.hard_grace_period >= 0 && e.unlock_grace_period >= 0, `seed ${seed}`);
      }
    });
    if (ok) loaded++;
  }
  // Both outcomes are exercised: the mutations are neither all fatal nor all harmless.
  assert.ok(loaded > CASES * 0.05 && loaded < CASES * 0.95, `${loaded} of ${CASES} loaded`);
});

Deno.test(`parseMonitorConfig(): ${CASES} mutated files each load whole or fail with a ConfigError`, () => {
  const defaults = defaultMonitorConfig("/etc/postgres_monitor") as unknown as Record<
    string,
    unknown
  >;
  let loaded = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const text = mutate(MONITOR, seed);
    const ok = outcome(
      seed,
      text,
      () => parseMonitorConfig(text, "monitor_config.json", "/etc/postgres_monitor"),
      (config) => {
        const c = config as unknown as Record<string, unknown>;
        // Every setting is there, with its default's type (or null where null is allowed).
        for (const [key, def] of Object.entries(defaults)) {
          assert.ok(key in c, `seed ${seed}: ${key} missing`);
          if (def !== null && c[key] !== null) {
            assert.equal(typeof c[key], typeof def, `seed ${seed}: ${key}\n${text}`);
          }
        }
        assert.ok(Number.isInteger(config.port) && config.port > 0 && config.port < 65536);
        assert.ok(config.sweep_interval > 0, `seed ${seed}`);
      },
    );
    if (ok) loaded++;
  }
  assert.ok(loaded > CASES * 0.05 && loaded < CASES * 0.95, `${loaded} of ${CASES} loaded`);
});
