import assert from "node:assert/strict";
import {
  ALERT_EVENTS,
  ConfigError,
  defaultMonitorConfig,
  describeEntry,
  formatBytes,
  type LimitEntry,
  loadConfig,
  parseLimits,
  parseListenAddress,
  parseMonitorConfig,
  parseSize,
  SizeError,
} from "../../lib/config/mod.ts";

const FILE = "/etc/postgres_monitor/user_limits.json";
const MONITOR_FILE = "/etc/postgres_monitor/monitor_config.json";
const DIR = "/etc/postgres_monitor";
/** A valid Standard Webhooks secret (24 random bytes). */
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** Parses a limits file expected to be invalid and returns the error. */
function limitsError(text: string): ConfigError {
  try {
    parseLimits(text, FILE);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("parseLimits() did not throw");
}

/** Parses a monitor file expected to be invalid and returns the error. */
function monitorError(text: string): ConfigError {
  try {
    parseMonitorConfig(text, MONITOR_FILE, DIR);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("parseMonitorConfig() did not throw");
}

/** Wraps entries in a user_limits document. */
function limitsDoc(...entries: unknown[]): string {
  return JSON.stringify({ user_limits: entries }, null, 2);
}

/** A single entry with valid limits plus `extra`. */
function entry(extra: Record<string, unknown>): Record<string, unknown> {
  return { soft_limit: 1000, hard_limit: 2000, ...extra };
}

// --- sizes ---------------------------------------------------------------------------------

Deno.test("parseSize() accepts byte counts", () => {
  assert.equal(parseSize(0), 0);
  assert.equal(parseSize(5000000000), 5000000000);
  assert.equal(parseSize(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
});

Deno.test("parseSize() accepts strings with 1024-based units", () => {
  assert.equal(parseSize("500MB"), 500 * 1024 ** 2);
  assert.equal(parseSize("2 GB"), 2 * 1024 ** 3);
  assert.equal(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
  assert.equal(parseSize("10kB"), 10240);
  assert.equal(parseSize("10KB"), 10240);
  assert.equal(parseSize("10KiB"), 10240);
  assert.equal(parseSize("123"), 123);
  assert.equal(parseSize("123 B"), 123);
  assert.equal(parseSize("123 bytes"), 123);
  assert.equal(parseSize(" 3 mib "), 3 * 1024 ** 2);
  assert.equal(parseSize("1tb"), 1024 ** 4);
  assert.equal(parseSize("2TiB"), 2 * 1024 ** 4);
  assert.equal(parseSize(".5kB"), 512);
});

Deno.test("parseSize() rounds fractional results down exactly", () => {
  assert.equal(parseSize("1.1kB"), 1126);
  assert.equal(parseSize("0.1TB"), 109951162777);
  assert.equal(parseSize("0.001kB"), 1);
  assert.equal(parseSize("0.0001kB"), 0);
});

Deno.test("parseSize() rejects invalid values with SizeError", () => {
  const bad: unknown[] = [
    -1,
    1.5,
    Infinity,
    NaN,
    2 ** 53,
    true,
    null,
    [],
    {},
    "",
    "   ",
    "abc",
    "-5MB",
    "5 XB",
    "5 K",
    "1e3",
    "1.5",
    "1.5 B",
    "5 MB extra",
    "99999999 PB",
  ];
  for (const value of bad) {
    assert.throws(() => parseSize(value), SizeError, `value ${JSON.stringify(value)}`);
  }
  assert.throws(() => parseSize("5 XB"), /unknown unit 'XB'/);
  assert.throws(() => parseSize(true), /got boolean/);
  assert.throws(() => parseSize(-1), { name: "SizeError", message: /must not be negative/ });
});

Deno.test("formatBytes() uses binary units with at most one decimal", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1024), "1 KiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(1572864), "1.5 MiB");
  assert.equal(formatBytes(1048575), "1 MiB");
  assert.equal(formatBytes(10 * 1024 ** 3), "10 GiB");
  assert.equal(formatBytes(5000000000), "4.7 GiB");
  assert.equal(formatBytes(3 * 1024 ** 4), "3 TiB");
  assert.equal(formatBytes(-1536), "-1.5 KiB");
});

// --- user_limits.json: valid files --------------------------------------------------------

Deno.test("parseLimits() reads the legacy format", () => {
  const text =
    `{"user_limits":[{"user":"dev_user","soft_limit":5000000000,"hard_limit":10000000000,"manual_unlock":false}]}`;
  const expected: LimitEntry[] = [{
    user: "dev_user",
    soft_limit: 5000000000,
    hard_limit: 10000000000,
    manual_unlock: false,
    hard_grace_period: 0,
    unlock_grace_period: 0,
    index: 0,
  }];
  assert.deepEqual(parseLimits(text, FILE), expected);
});

Deno.test("parseLimits() accepts JSONC comments and trailing commas", () => {
  const text = `// storage limits
{
  /* developers */
  "user_limits": [
    {
      "user": "dev_user", // the main one
      "soft_limit": "5GB",
      "hard_limit": "10GB",
    },
  ],
}
`;
  const [first, ...rest] = parseLimits(text, FILE);
  assert.equal(rest.length, 0);
  assert.equal(first?.user, "dev_user");
  assert.equal(first?.soft_limit, 5 * 1024 ** 3);
  assert.equal(first?.hard_limit, 10 * 1024 ** 3);
});

Deno.test("parseLimits() accepts a byte order mark", () => {
  assert.deepEqual(parseLimits('\uFEFF{"user_limits": []}', FILE), []);
});

Deno.test("parseLimits() accepts size strings and fills defaults", () => {
  const text = limitsDoc(
    { user: "a", soft_limit: "500MB", hard_limit: "1.5GiB" },
    {
      member_of: "devs",
      soft_limit: "10kB",
      hard_limit: 20480,
      manual_unlock: true,
      hard_grace_period: 30,
      unlock_grace_period: 0.5,
    },
  );
  assert.deepEqual(parseLimits(text, FILE), [
    {
      user: "a",
      soft_limit: 500 * 1024 ** 2,
      hard_limit: 1.5 * 1024 ** 3,
      manual_unlock: false,
      hard_grace_period: 0,
      unlock_grace_period: 0,
      index: 0,
    },
    {
      member_of: "devs",
      soft_limit: 10240,
      hard_limit: 20480,
      manual_unlock: true,
      hard_grace_period: 30,
      unlock_grace_period: 0.5,
      index: 1,
    },
  ]);
});

Deno.test("parseLimits() accepts an empty user_limits array", () => {
  assert.deepEqual(parseLimits(`{"user_limits": []}`, FILE), []);
});

Deno.test("parseLimits() accepts a soft_limit of zero", () => {
  const [first] = parseLimits(limitsDoc({ user: "a", soft_limit: 0, hard_limit: 1 }), FILE);
  assert.equal(first?.soft_limit, 0);
});

Deno.test("parseLimits() keeps odd role names verbatim", () => {
  const names = [
    "o'brien",
    'say "hi"',
    "with space",
    " leading and trailing ",
    "back\\slash",
    "100%",
    "MixedCase",
    "Ünïcødé_rôle",
    "日本語",
    "a".repeat(63),
    "é".repeat(31) + "a",
  ];
  const entries = parseLimits(limitsDoc(...names.map((user) => entry({ user }))), FILE);
  assert.deepEqual(entries.map((e) => e.user), names);
});

Deno.test("parseLimits() allows a user entry and a group entry with the same name", () => {
  const entries = parseLimits(
    limitsDoc(entry({ user: "devs" }), entry({ member_of: "devs" })),
    FILE,
  );
  assert.equal(entries.length, 2);
});

Deno.test("describeEntry() labels entries by index and name", () => {
  assert.equal(describeEntry({ index: 2, user: "bob" }), "user_limits[2] (user 'bob')");
  assert.equal(describeEntry({ index: 0, member_of: "devs" }), "user_limits[0] (member_of 'devs')");
  assert.equal(describeEntry({ index: 1, user: "o'brien" }), "user_limits[1] (user 'o\\'brien')");
  assert.equal(describeEntry({ index: 4 }), "user_limits[4]");
});

// --- user_limits.json: errors --------------------------------------------------------------

Deno.test("parseLimits() reports malformed JSON with 1-based line and column", () => {
  const text = `{
  "user_limits": [
    {"user": "bob" "soft_limit": 1, "hard_limit": 2}
  ]
}`;
  const error = limitsError(text);
  assert.equal(error.name, "ConfigError");
  assert.equal(error.file, FILE);
  assert.equal(error.line, 3);
  assert.equal(error.column, 20);
  assert.equal(error.message, `${FILE}:3:20: Cannot parse JSON: expected ',' or '}'`);
  assert.equal(error.problems.length, 1);
});

Deno.test("parseLimits() reports only the first syntax error", () => {
  const error = limitsError(`{"user_limits": [1 2 3}`);
  assert.equal(error.problems.length, 1);
  assert.match(
    error.message,
    /^\/etc\/postgres_monitor\/user_limits\.json:1:20: .*expected ',' or ']'$/,
  );
});

Deno.test("parseLimits() reports truncated and empty files", () => {
  assert.equal(
    limitsError(`{"user_limits": [`).message,
    `${FILE}:1:18: Cannot parse JSON: unexpected end of file, expected ',' or ']'`,
  );
  assert.match(limitsError("").message, /:1:1: Cannot parse JSON: .*expected a value$/);
  assert.match(limitsError("// nothing\n").message, /Cannot parse JSON/);
});

Deno.test("parseLimits() counts columns after CRLF line breaks", () => {
  const error = limitsError(`{\r\n  "user_limits": [\r\n    {"user": x}\r\n  ]\r\n}`);
  assert.equal(error.line, 3);
  assert.equal(error.column, 14);
});

Deno.test("parseLimits() rejects a missing user_limits key", () => {
  const error = limitsError(`{}`);
  assert.equal(error.message, `${FILE}:1:1: Missing required key 'user_limits'`);
});

Deno.test("parseLimits() rejects a top level that is not an object", () => {
  assert.match(
    limitsError(`[]`).message,
    /Expected an object with a 'user_limits' array, got array/,
  );
  assert.match(
    limitsError(`{"user_limits": {"user": "a"}}`).message,
    /Key 'user_limits' must be an array, got object/,
  );
});

Deno.test("parseLimits() rejects an entry that is not an object", () => {
  const error = limitsError(`{"user_limits": ["bob"]}`);
  assert.match(error.message, /user_limits\[0\]: Entry must be an object, got string$/);
  assert.equal(error.entry, "user_limits[0]");
});

Deno.test("parseLimits() rejects unknown keys and suggests the closest known key", () => {
  const error = limitsError(limitsDoc(entry({ user: "bob", soft_limt: 5 })));
  assert.equal(error.entry, "user_limits[0] (user 'bob')");
  assert.match(
    error.message,
    /user_limits\[0\] \(user 'bob'\): Unknown key 'soft_limt', did you mean 'soft_limit'\?$/,
  );
  assert.match(
    limitsError(limitsDoc(entry({ user: "bob", manaul_unlock: true }))).message,
    /Unknown key 'manaul_unlock', did you mean 'manual_unlock'\?/,
  );
});

Deno.test("parseLimits() rejects unknown keys without a close match", () => {
  const message = limitsError(limitsDoc(entry({ user: "bob", quota: 5 }))).message;
  assert.match(message, /Unknown key 'quota'$/);
});

Deno.test("parseLimits() rejects unknown top-level keys", () => {
  const error = limitsError(`{"user_limits": [], "user_limit": []}`);
  assert.equal(
    error.message,
    `${FILE}:1:21: Unknown key 'user_limit', did you mean 'user_limits'?`,
  );
});

Deno.test("parseLimits() rejects wrong types naming expected and actual type", () => {
  assert.match(
    limitsError(limitsDoc(entry({ user: "bob", manual_unlock: "yes" }))).message,
    /Key 'manual_unlock' must be a boolean, got string$/,
  );
  assert.match(
    limitsError(limitsDoc(entry({ user: 42 }))).message,
    /user_limits\[0\]: Key 'user' must be a string, got number$/,
  );
  assert.match(
    limitsError(limitsDoc({ user: "bob", soft_limit: true, hard_limit: 5 })).message,
    /Invalid 'soft_limit': size must be a number or a string, got boolean$/,
  );
  assert.match(
    limitsError(limitsDoc(entry({ user: "bob", hard_grace_period: "1h" }))).message,
    /Key 'hard_grace_period' must be a number of seconds, got string$/,
  );
  assert.match(
    limitsError(limitsDoc(entry({ user: "bob", unlock_grace_period: null }))).message,
    /Key 'unlock_grace_period' must be a number of seconds, got null$/,
  );
});

Deno.test("parseLimits() rejects negative grace periods", () => {
  assert.match(
    limitsError(limitsDoc(entry({ user: "bob", hard_grace_period: -1 }))).message,
    /Key 'hard_grace_period' must be a non-negative number of seconds, got -1$/,
  );
});

Deno.test("parseLimits() rejects hard_limit < soft_limit", () => {
  const error = limitsError(limitsDoc({ user: "bob", soft_limit: "2GB", hard_limit: "1GB" }));
  assert.match(
    error.message,
    /user_limits\[0\] \(user 'bob'\): 'hard_limit' \(1 GiB = 1073741824 bytes\) must be greater than 'soft_limit' \(2 GiB = 2147483648 bytes\)$/,
  );
});

Deno.test("parseLimits() rejects hard_limit == soft_limit", () => {
  const error = limitsError(limitsDoc({ user: "bob", soft_limit: "1GB", hard_limit: 1073741824 }));
  assert.match(error.message, /'hard_limit' .* must be greater than 'soft_limit'/);
});

Deno.test("parseLimits() rejects negative sizes", () => {
  assert.match(
    limitsError(limitsDoc({ user: "bob", soft_limit: -5, hard_limit: 10 })).message,
    /Invalid 'soft_limit': size must not be negative, got -5$/,
  );
  assert.match(
    limitsError(limitsDoc({ user: "bob", soft_limit: 5, hard_limit: "-10MB" })).message,
    /Invalid 'hard_limit': size must not be negative/,
  );
});

Deno.test("parseLimits() rejects non-integer byte counts", () => {
  assert.match(
    limitsError(limitsDoc({ user: "bob", soft_limit: 1.5, hard_limit: 10 })).message,
    /Invalid 'soft_limit': size in bytes must be a whole number, got 1.5$/,
  );
});

Deno.test("parseLimits() rejects invalid size strings", () => {
  assert.match(
    limitsError(limitsDoc({ user: "bob", soft_limit: "5 XB", hard_limit: "10GB" })).message,
    /Invalid 'soft_limit': invalid size '5 XB': unknown unit 'XB'/,
  );
});

Deno.test("parseLimits() rejects missing limits", () => {
  const message = limitsError(limitsDoc({ user: "bob" })).message;
  assert.match(message, /Missing required key 'soft_limit'/);
  assert.match(message, /Missing required key 'hard_limit'/);
});

Deno.test("parseLimits() rejects duplicate user entries", () => {
  const error = limitsError(
    limitsDoc(entry({ user: "bob" }), entry({ user: "al" }), entry({ user: "bob" })),
  );
  assert.equal(error.problems.length, 1);
  assert.equal(error.entry, "user_limits[2] (user 'bob')");
  assert.match(
    error.message,
    /user_limits\[2\] \(user 'bob'\): Duplicate user 'bob', already limited by user_limits\[0\]$/,
  );
});

Deno.test("parseLimits() rejects duplicate member_of entries", () => {
  const error = limitsError(limitsDoc(entry({ member_of: "devs" }), entry({ member_of: "devs" })));
  assert.match(error.message, /Duplicate member_of 'devs', already limited by user_limits\[0\]$/);
});

Deno.test("parseLimits() treats role names as case- and space-sensitive for duplicates", () => {
  const entries = parseLimits(
    limitsDoc(entry({ user: "bob" }), entry({ user: "Bob" }), entry({ user: "bob " })),
    FILE,
  );
  assert.equal(entries.length, 3);
});

Deno.test("parseLimits() rejects an entry with both user and member_of", () => {
  const error = limitsError(limitsDoc(entry({ user: "bob", member_of: "devs" })));
  assert.equal(error.entry, "user_limits[0] (user 'bob', member_of 'devs')");
  assert.match(error.message, /Set only one of 'user' and 'member_of'$/);
});

Deno.test("parseLimits() rejects an entry with neither user nor member_of", () => {
  const error = limitsError(limitsDoc(entry({})));
  assert.match(error.message, /user_limits\[0\]: Missing key 'user' or 'member_of'/);
});

Deno.test("parseLimits() rejects empty, overlong and NUL-containing role names", () => {
  assert.match(
    limitsError(limitsDoc(entry({ user: "" }))).message,
    /Key 'user' must not be empty$/,
  );
  assert.match(
    limitsError(limitsDoc(entry({ member_of: "é".repeat(32) }))).message,
    /Key 'member_of' must be at most 63 bytes \(PostgreSQL name limit\), got 64 bytes$/,
  );
  assert.match(
    limitsError(limitsDoc(entry({ user: "a\u0000b" }))).message,
    /\(user 'a\\u0000b'\): Key 'user' must not contain a NUL character$/,
  );
});

Deno.test("parseLimits() rejects duplicate JSON keys", () => {
  const error = limitsError(
    `{"user_limits": [{"user": "a", "soft_limit": 1, "soft_limit": 2, "hard_limit": 3}]}`,
  );
  assert.match(error.message, /:1:49: Duplicate key 'soft_limit'$/);
});

Deno.test("parseLimits() treats __proto__ as an ordinary unknown key", () => {
  const error = limitsError(`{"user_limits": [{"user": "a", "__proto__": {"x": 1}}]}`);
  assert.match(error.message, /Unknown key '__proto__'/);
});

Deno.test("parseLimits() reports every problem of a file at once, in file order", () => {
  const text = `{
  "user_limits": [
    {"user": "alice", "soft_limit": "2GB", "hard_limit": "1GB"},
    {"user": "bob", "soft_limt": 1, "hard_limit": 2},
    {"user": "alice", "soft_limit": 1, "hard_limit": 2, "manual_unlock": 1}
  ]
}`;
  const error = limitsError(text);
  const lines = error.message.split("\n");
  assert.deepEqual(lines, [
    `${FILE}:3:58: user_limits[0] (user 'alice'): 'hard_limit' (1 GiB = 1073741824 bytes) must be greater than 'soft_limit' (2 GiB = 2147483648 bytes)`,
    `${FILE}:4:5: user_limits[1] (user 'bob'): Missing required key 'soft_limit'`,
    `${FILE}:4:21: user_limits[1] (user 'bob'): Unknown key 'soft_limt', did you mean 'soft_limit'?`,
    `${FILE}:5:14: user_limits[2] (user 'alice'): Duplicate user 'alice', already limited by user_limits[0]`,
    `${FILE}:5:74: user_limits[2] (user 'alice'): Key 'manual_unlock' must be a boolean, got number`,
  ]);
  assert.equal(error.problems.length, 5);
  assert.equal(error.line, 3);
  assert.equal(error.entry, "user_limits[0] (user 'alice')");
});

// --- monitor_config.json -------------------------------------------------------------------

Deno.test("parseMonitorConfig() fills every default for an empty object", () => {
  const config = parseMonitorConfig("// nothing set\n{}", MONITOR_FILE, DIR);
  assert.deepEqual(config, defaultMonitorConfig(DIR));
  assert.deepEqual(config, {
    slack_enabled: false,
    slack_webhook_url: "",
    alert_timeout_ms: 10000,
    alert_retry_base_ms: 1000,
    alert_retry_max_ms: 300000,
    circuit_breaker_failures: 5,
    circuit_breaker_cooldown_ms: 30000,
    webhooks: [],
    prometheus_enabled: true,
    host: "localhost",
    port: 5432,
    user: "monitor_user",
    control_database: "postgres",
    password_file: "/etc/postgres_monitor/monitor_user.passwd",
    databases: null,
    max_watched_databases: 10,
    exempt_roles: [],
    metrics_file: "/var/lib/prometheus/node-exporter/postgres_realtime_monitor.prom",
    metrics_listen: null,
    pid_file: "/var/run/postgres_realtime_monitor.pid",
    state_dir: "/var/lib/postgres_monitor",
    sweep_interval: 60,
    soft_warning_interval: 3600,
    hot_interval_ms: 50,
    detection: "trigger",
    lock_poll_interval_ms: 200,
    poll_interval_ms: 500,
    verify_interval_ms: 5000,
    measure_lock_timeout_ms: 200,
    connect_timeout: 10,
    dry_run: false,
    syslog_enabled: true,
    syslog_socket: null,
    log_level: "info",
    listen_channel: "storage_limit_check",
    application_name: "postgres_realtime_monitor",
  });
});

Deno.test("parseMonitorConfig() reads every key", () => {
  const text = `{
    "slack_enabled": true,
    "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/xyz",
    "alert_timeout_ms": 2500,
    "alert_retry_base_ms": 10,
    "alert_retry_max_ms": 10,
    "circuit_breaker_failures": 1,
    "circuit_breaker_cooldown_ms": 60000,
    "webhooks": [
      {
        "name": "ops-1",
        "url": "http://alerts.internal:8080/hook",
        "secret": "${SECRET}",
        "events": ["locked", "tamper"],
        "timeout_ms": 100,
      },
      {"url": "https://example.com/x", "secret_file": "hook.secret"},
    ],
    "prometheus_enabled": false,
    "host": "/var/run/postgresql",
    "port": 5433,
    "user": "monitor",
    "control_database": "admin",
    "password_file": "/run/secrets/pw",
    "databases": ["app", "analytics"],
    "max_watched_databases": 3,
    "exempt_roles": ["postgres", "backup"],
    "metrics_file": "/tmp/m.prom",
    "metrics_listen": "[::1]:9187",
    "pid_file": "/run/monitor.pid",
    "state_dir": "/var/lib/monitor",
    "sweep_interval": 0.5,
    "soft_warning_interval": 0,
    "hot_interval_ms": 10,
    "detection": "poll",
    "lock_poll_interval_ms": 0,
    "poll_interval_ms": 50,
    "verify_interval_ms": 0,
    "measure_lock_timeout_ms": 1,
    "connect_timeout": 2.5,
    "dry_run": true,
    "syslog_enabled": false,
    "syslog_socket": "/run/systemd/journal/dev-log",
    "log_level": "debug",
    "listen_channel": "_chan1",
    "application_name": "",
  }`;
  assert.deepEqual(parseMonitorConfig(text, MONITOR_FILE, DIR), {
    slack_enabled: true,
    slack_webhook_url: "https://hooks.slack.com/services/T0/B0/xyz",
    alert_timeout_ms: 2500,
    alert_retry_base_ms: 10,
    alert_retry_max_ms: 10,
    circuit_breaker_failures: 1,
    circuit_breaker_cooldown_ms: 60000,
    webhooks: [
      {
        name: "ops-1",
        url: "http://alerts.internal:8080/hook",
        secret: SECRET,
        secret_file: null,
        events: ["locked", "tamper"],
        timeout_ms: 100,
      },
      {
        name: "webhook2",
        url: "https://example.com/x",
        secret: null,
        secret_file: "/etc/postgres_monitor/hook.secret",
        events: [...ALERT_EVENTS],
        timeout_ms: 2500,
      },
    ],
    prometheus_enabled: false,
    host: "/var/run/postgresql",
    port: 5433,
    user: "monitor",
    control_database: "admin",
    password_file: "/run/secrets/pw",
    databases: ["app", "analytics"],
    max_watched_databases: 3,
    exempt_roles: ["postgres", "backup"],
    metrics_file: "/tmp/m.prom",
    metrics_listen: "[::1]:9187",
    pid_file: "/run/monitor.pid",
    state_dir: "/var/lib/monitor",
    sweep_interval: 0.5,
    soft_warning_interval: 0,
    hot_interval_ms: 10,
    detection: "poll",
    lock_poll_interval_ms: 0,
    poll_interval_ms: 50,
    verify_interval_ms: 0,
    measure_lock_timeout_ms: 1,
    connect_timeout: 2.5,
    dry_run: true,
    syslog_enabled: false,
    syslog_socket: "/run/systemd/journal/dev-log",
    log_level: "debug",
    listen_channel: "_chan1",
    application_name: "",
  });
});

Deno.test("parseMonitorConfig() resolves a relative password_file against the config dir", () => {
  const parse = (file: string) =>
    parseMonitorConfig(JSON.stringify({ password_file: file }), MONITOR_FILE, DIR).password_file;
  assert.equal(parse("secret.passwd"), "/etc/postgres_monitor/secret.passwd");
  assert.equal(parse("./sub/../pw"), "/etc/postgres_monitor/pw");
  assert.equal(parse("/run/secrets/pw"), "/run/secrets/pw");
  assert.equal(
    parseMonitorConfig("{}", MONITOR_FILE, "/opt/conf").password_file,
    "/opt/conf/monitor_user.passwd",
  );
});

Deno.test("parseMonitorConfig() rejects relative paths", () => {
  const error = monitorError(`{"metrics_file": "metrics.prom", "state_dir": ""}`);
  assert.deepEqual(error.message.split("\n"), [
    `${MONITOR_FILE}:1:18: Key 'metrics_file' must be an absolute path, got 'metrics.prom'`,
    `${MONITOR_FILE}:1:47: Key 'state_dir' must not be empty`,
  ]);
});

Deno.test("parseMonitorConfig() rejects a bad Slack URL when Slack is enabled", () => {
  const secret = "hooks.slack.com/services/T0/B0/secret";
  const error = monitorError(
    JSON.stringify({ slack_enabled: true, slack_webhook_url: `ftp://${secret}` }),
  );
  assert.match(
    error.message,
    /Key 'slack_webhook_url' must be an http\(s\) URL when 'slack_enabled' is true$/,
  );
  // The webhook URL is a credential and must not end up in logs.
  assert.ok(!error.message.includes(secret));
  assert.match(monitorError(`{"slack_enabled": true}`).message, /:1:19: Key 'slack_webhook_url'/);
  assert.match(
    monitorError(`{"slack_enabled": true, "slack_webhook_url": "not a url"}`).message,
    /must be an http\(s\) URL/,
  );
  // Not validated while Slack is disabled.
  assert.equal(
    parseMonitorConfig(`{"slack_webhook_url": "x"}`, MONITOR_FILE, DIR).slack_webhook_url,
    "x",
  );
});

Deno.test("parseMonitorConfig() rejects bad ports", () => {
  assert.match(monitorError(`{"port": 0}`).message, /Key 'port' must be at least 1, got 0$/);
  assert.match(
    monitorError(`{"port": 65536}`).message,
    /Key 'port' must be at most 65535, got 65536$/,
  );
  assert.match(
    monitorError(`{"port": 5432.5}`).message,
    /Key 'port' must be a whole number, got 5432.5$/,
  );
  assert.match(
    monitorError(`{"port": "5432"}`).message,
    /Key 'port' must be a whole number, got string$/,
  );
});

Deno.test("parseMonitorConfig() rejects out-of-range intervals", () => {
  assert.match(
    monitorError(`{"sweep_interval": 0}`).message,
    /Key 'sweep_interval' must be greater than 0 seconds, got 0$/,
  );
  assert.match(
    monitorError(`{"soft_warning_interval": -1}`).message,
    /Key 'soft_warning_interval' must be at least 0 seconds, got -1$/,
  );
  assert.match(
    monitorError(`{"hot_interval_ms": 5}`).message,
    /Key 'hot_interval_ms' must be at least 10 milliseconds, got 5$/,
  );
  assert.match(
    monitorError(`{"hot_interval_ms": 12.5}`).message,
    /must be a whole number of milliseconds, got 12.5$/,
  );
  assert.match(monitorError(`{"measure_lock_timeout_ms": 0}`).message, /at least 1 milliseconds/);
  assert.match(monitorError(`{"connect_timeout": 0}`).message, /greater than 0 seconds/);
  assert.match(monitorError(`{"sweep_interval": 1e9}`).message, /must be at most/);
});

Deno.test("parseMonitorConfig() rejects unknown keys with a suggestion", () => {
  const error = monitorError(`{\n  "sweep_intervall": 30\n}`);
  assert.equal(
    error.message,
    `${MONITOR_FILE}:2:3: Unknown key 'sweep_intervall', did you mean 'sweep_interval'?`,
  );
  assert.match(monitorError(`{"bogus_setting": 1}`).message, /Unknown key 'bogus_setting'$/);
});

Deno.test("parseMonitorConfig() rejects wrong types", () => {
  assert.match(
    monitorError(`{"dry_run": "true"}`).message,
    /Key 'dry_run' must be a boolean, got string$/,
  );
  assert.match(monitorError(`{"host": 1}`).message, /Key 'host' must be a string, got number$/);
  assert.match(monitorError(`[]`).message, /Expected an object, got array$/);
});

Deno.test("parseMonitorConfig() validates log_level and listen_channel", () => {
  assert.match(
    monitorError(`{"log_level": "verbose"}`).message,
    /Key 'log_level' must be one of 'debug', 'info', 'warn', 'error', got 'verbose'$/,
  );
  for (const channel of ["Storage", "1abc", "a-b", "", "a".repeat(64)]) {
    assert.match(
      monitorError(JSON.stringify({ listen_channel: channel })).message,
      /Key 'listen_channel' must match/,
      channel,
    );
  }
  const ok = parseMonitorConfig(
    JSON.stringify({ listen_channel: "a".repeat(63) }),
    MONITOR_FILE,
    DIR,
  );
  assert.equal(ok.listen_channel.length, 63);
});

Deno.test("parseMonitorConfig() validates databases and exempt_roles", () => {
  assert.equal(parseMonitorConfig(`{"databases": null}`, MONITOR_FILE, DIR).databases, null);
  assert.match(
    monitorError(`{"databases": ["app", "app"]}`).message,
    /:1:23: Item databases\[1\] repeats database name 'app'$/,
  );
  assert.match(
    monitorError(`{"databases": [""]}`).message,
    /Item databases\[0\] must not be empty$/,
  );
  assert.match(monitorError(`{"databases": []}`).message, /use null to monitor every database$/);
  assert.match(
    monitorError(`{"databases": "app"}`).message,
    /Key 'databases' must be an array of database names, got string$/,
  );
  assert.match(
    monitorError(`{"exempt_roles": ["a", 1]}`).message,
    /Item exempt_roles\[1\] must be a string \(role name\), got number$/,
  );
  assert.match(monitorError(`{"exempt_roles": ["a", "a"]}`).message, /repeats role name 'a'/);
  assert.deepEqual(
    parseMonitorConfig(`{"exempt_roles": ["Odd Role", "o'k"]}`, MONITOR_FILE, DIR).exempt_roles,
    ["Odd Role", "o'k"],
  );
});

Deno.test("parseMonitorConfig() reports syntax errors with line and column", () => {
  const error = monitorError(`{\n  "port": 5432\n  "host": "db"\n}`);
  assert.equal(error.message, `${MONITOR_FILE}:3:3: Cannot parse JSON: expected ',' or '}'`);
  assert.equal(error.file, MONITOR_FILE);
});

Deno.test("parseMonitorConfig() validates syslog_socket", () => {
  const parse = (text: string) => parseMonitorConfig(text, MONITOR_FILE, DIR).syslog_socket;
  assert.equal(parse(`{"syslog_socket": null}`), null);
  assert.equal(parse(`{"syslog_socket": "/dev/log"}`), "/dev/log");
  assert.match(
    monitorError(`{"syslog_socket": "dev/log"}`).message,
    /:1:19: Key 'syslog_socket' must be an absolute path, got 'dev\/log'$/,
  );
  assert.match(monitorError(`{"syslog_socket": ""}`).message, /'syslog_socket' must not be empty$/);
  assert.match(
    monitorError(`{"syslog_socket": false}`).message,
    /Key 'syslog_socket' must be a string, got boolean$/,
  );
});

Deno.test("parseMonitorConfig() keeps a valid metrics_listen as written", () => {
  const parse = (value: unknown) =>
    parseMonitorConfig(JSON.stringify({ metrics_listen: value }), MONITOR_FILE, DIR)
      .metrics_listen;
  assert.equal(parse(null), null);
  for (const address of ["127.0.0.1:9187", "localhost:9187", "[::1]:9187", "0.0.0.0:1"]) {
    assert.equal(parse(address), address);
  }
  assert.equal(parse("[fe80::1:2]:65535"), "[fe80::1:2]:65535");
});

Deno.test("parseMonitorConfig() rejects a metrics_listen without an address or port", () => {
  const message = (value: unknown) =>
    monitorError(JSON.stringify({ metrics_listen: value })).message;
  assert.match(
    message(":9187"),
    /Key 'metrics_listen' must name the address to listen on before the port .*, got ':9187'$/,
  );
  assert.match(message("9187"), /Key 'metrics_listen' must be 'host:port' .*, got '9187'$/);
  assert.match(message("localhost"), /must be 'host:port'/);
  for (const bad of ["localhost:0", "localhost:65536", "localhost:", "localhost:port", "[::1]"]) {
    assert.match(message(bad), /must end in ':port' with a port of 1\.\.65535/, bad);
  }
  assert.match(message("::1:9187"), /must put an IPv6 address in brackets, e.g. '\[::1\]:9187'/);
  assert.match(message("[nope]:9187"), /must hold an IPv6 address between the brackets/);
  assert.match(message("[]:9187"), /must hold an IPv6 address between the brackets/);
  assert.match(message("my host:9187"), /must name a host name or IP address before the port/);
  assert.match(message(9187), /Key 'metrics_listen' must be a string, got number$/);
});

Deno.test("parseListenAddress() splits host and port and drops IPv6 brackets", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:9187"), { hostname: "127.0.0.1", port: 9187 });
  assert.deepEqual(parseListenAddress("localhost:80"), { hostname: "localhost", port: 80 });
  assert.deepEqual(parseListenAddress("[::1]:9187"), { hostname: "::1", port: 9187 });
  assert.deepEqual(parseListenAddress("[::]:65535"), { hostname: "::", port: 65535 });
  for (const bad of [":9187", "", "localhost", "::1:9187", "[::1]", "host:0", "host:99999"]) {
    assert.throws(() => parseListenAddress(bad), TypeError, bad);
  }
  assert.throws(() => parseListenAddress(":9187"), /^TypeError: Listen address ':9187' must name/);
});

Deno.test("parseMonitorConfig() validates the alert delivery settings", () => {
  const cases: [string, RegExp][] = [
    [`{"alert_timeout_ms": 99}`, /'alert_timeout_ms' must be at least 100 milliseconds, got 99$/],
    [
      `{"alert_timeout_ms": 120001}`,
      /'alert_timeout_ms' must be at most 120000 milliseconds, got 120001$/,
    ],
    [`{"alert_timeout_ms": 1000.5}`, /'alert_timeout_ms' must be a whole number of milliseconds/],
    [
      `{"alert_retry_base_ms": 9}`,
      /'alert_retry_base_ms' must be at least 10 milliseconds, got 9$/,
    ],
    [`{"alert_retry_max_ms": "1s"}`, /'alert_retry_max_ms' must be a whole number .*got string$/],
    [`{"circuit_breaker_failures": 0}`, /'circuit_breaker_failures' must be at least 1, got 0$/],
    [`{"circuit_breaker_failures": 2.5}`, /'circuit_breaker_failures' must be a whole number/],
    [
      `{"circuit_breaker_cooldown_ms": 5}`,
      /'circuit_breaker_cooldown_ms' must be at least 10 milliseconds, got 5$/,
    ],
    [`{"circuit_breaker_cooldown_ms": 1e12}`, /'circuit_breaker_cooldown_ms' must be at most/],
  ];
  for (const [text, expected] of cases) assert.match(monitorError(text).message, expected, text);
  const ok = parseMonitorConfig(
    `{"alert_timeout_ms": 120000, "alert_retry_base_ms": 500, "circuit_breaker_failures": 100}`,
    MONITOR_FILE,
    DIR,
  );
  assert.equal(ok.alert_timeout_ms, 120000);
  assert.equal(ok.alert_retry_base_ms, 500);
  assert.equal(ok.alert_retry_max_ms, 300000);
  assert.equal(ok.circuit_breaker_failures, 100);
});

Deno.test("parseMonitorConfig() requires alert_retry_max_ms >= alert_retry_base_ms", () => {
  assert.equal(
    monitorError(`{"alert_retry_base_ms": 2000, "alert_retry_max_ms": 1999}`).message,
    `${MONITOR_FILE}:1:53: Key 'alert_retry_max_ms' (1999 milliseconds) must be at least ` +
      `'alert_retry_base_ms' (2000 milliseconds)`,
  );
  // Against the default maximum, pointing at the key that was written.
  assert.match(
    monitorError(`{"alert_retry_base_ms": 300001}`).message,
    /:1:25: Key 'alert_retry_max_ms' \(300000 milliseconds\) must be at least/,
  );
  assert.match(
    monitorError(`{"alert_retry_max_ms": 999}`).message,
    /:1:24: .*'alert_retry_base_ms' \(1000 milliseconds\)$/,
  );
  // An invalid value is reported once, not compared.
  assert.equal(
    monitorError(`{"alert_retry_base_ms": 5, "alert_retry_max_ms": 4}`).problems.length,
    2,
  );
  const equal = parseMonitorConfig(
    `{"alert_retry_base_ms": 700, "alert_retry_max_ms": 700}`,
    MONITOR_FILE,
    DIR,
  );
  assert.equal(equal.alert_retry_max_ms, 700);
});

/** monitor_config.json text with these webhook items. */
function webhooksDoc(...items: unknown[]): string {
  return JSON.stringify({ webhooks: items }, null, 2);
}

Deno.test("parseMonitorConfig() fills webhook defaults", () => {
  const text = `{
    "webhooks": [
      {"url": "https://a.example/hook"},
      {"url": "http://b.example:8080/x", "secret": null, "secret_file": null},
    ],
    // After "webhooks" on purpose: the file order does not matter.
    "alert_timeout_ms": 4000,
  }`;
  assert.deepEqual(parseMonitorConfig(text, MONITOR_FILE, DIR).webhooks, [
    {
      name: "webhook1",
      url: "https://a.example/hook",
      secret: null,
      secret_file: null,
      events: [...ALERT_EVENTS],
      timeout_ms: 4000,
    },
    {
      name: "webhook2",
      url: "http://b.example:8080/x",
      secret: null,
      secret_file: null,
      events: [...ALERT_EVENTS],
      timeout_ms: 4000,
    },
  ]);
  const [first] = parseMonitorConfig(webhooksDoc({ url: "https://a.example" }), MONITOR_FILE, DIR)
    .webhooks;
  assert.equal(first?.timeout_ms, 10000);
  assert.deepEqual(parseMonitorConfig(`{"webhooks": []}`, MONITOR_FILE, DIR).webhooks, []);
});

Deno.test("ALERT_EVENTS are exactly the events the event log accepts", async () => {
  const sql = await Deno.readTextFile(new URL("../../sql/install_control.sql", import.meta.url));
  const check = /event text NOT NULL CHECK \(event IN \(([^)]*)\)\)/.exec(sql);
  assert.ok(check, "the event_log CHECK constraint");
  const allowed = [...check[1]!.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
  assert.deepEqual([...ALERT_EVENTS].sort(), allowed.sort());
});

Deno.test("parseMonitorConfig() reads webhook names, events, secrets and timeouts", () => {
  const text = webhooksDoc(
    { name: "a", url: "https://a.example", events: [...ALERT_EVENTS].reverse() },
    { name: "b_2-x", url: "https://b.example", secret_file: "/run/creds/b" },
    { name: "c".repeat(40), url: "https://c.example", secret_file: "./sub/../c.secret" },
    { url: "https://d.example", secret: SECRET, timeout_ms: 120000, events: ["tamper"] },
  );
  const hooks = parseMonitorConfig(text, MONITOR_FILE, DIR).webhooks;
  assert.deepEqual(hooks.map((h) => h.name), ["a", "b_2-x", "c".repeat(40), "webhook4"]);
  assert.deepEqual(hooks[0]?.events, [...ALERT_EVENTS].reverse());
  assert.equal(hooks[1]?.secret_file, "/run/creds/b");
  assert.equal(hooks[2]?.secret_file, "/etc/postgres_monitor/c.secret");
  assert.equal(hooks[3]?.secret, SECRET);
  assert.equal(hooks[3]?.timeout_ms, 120000);
  assert.deepEqual(hooks[3]?.events, ["tamper"]);
});

Deno.test("parseMonitorConfig() accepts Standard Webhooks secrets of 24 to 64 bytes", () => {
  const secret = (bytes: number) => `whsec_${btoa("k".repeat(bytes))}`;
  for (const bytes of [24, 25, 32, 63, 64]) {
    const hooks = parseMonitorConfig(
      webhooksDoc({ url: "https://a.example", secret: secret(bytes) }),
      MONITOR_FILE,
      DIR,
    ).webhooks;
    assert.equal(hooks[0]?.secret, secret(bytes), `${bytes} bytes`);
  }
});

Deno.test("parseMonitorConfig() rejects bad webhook secrets without showing them", () => {
  const payload = btoa("p".repeat(16));
  const bad: unknown[] = [
    payload + btoa("q".repeat(16)), // no prefix
    `WHSEC_${btoa("q".repeat(32))}`,
    `whsec_${payload}`, // 16 bytes
    `whsec_${btoa("q".repeat(23))}`,
    `whsec_${btoa("q".repeat(65))}`,
    `whsec_${payload}${payload}!`,
    `whsec_${btoa("q".repeat(32)).replace(/=+$/, "")}`, // padding removed
    `whsec_ ${btoa("q".repeat(32))}`,
    "whsec_",
    "",
  ];
  for (const secret of bad) {
    const error = monitorError(webhooksDoc({ name: "ops", url: "https://a.example", secret }));
    assert.match(
      error.message,
      /webhooks\[0\] \(name 'ops'\): Key 'secret' must be 'whsec_' followed by the base64 of 24 to 64 bytes$/,
      String(secret),
    );
    assert.ok(!error.message.includes(payload), String(secret));
    assert.ok(!error.message.includes(btoa("q".repeat(16)).slice(0, 8)), String(secret));
  }
  assert.match(
    monitorError(webhooksDoc({ url: "https://a.example", secret: 42 })).message,
    /webhooks\[0\]: Key 'secret' must be a string, got number$/,
  );
});

Deno.test("parseMonitorConfig() rejects bad webhook URLs without showing them", () => {
  const token = "T000/B000/leakytoken";
  const host = "leaky-host.example";
  const bad = [
    `ftp://${host}/${token}`,
    `${host}/${token}`,
    `https//${host}/${token}`,
    `mailto:${token}@${host}`,
    `https://`,
    `file:///${host}/${token}`,
    `  ${host}  `,
    "",
  ];
  for (const url of bad) {
    const error = monitorError(webhooksDoc({ name: "ops", url }));
    assert.equal(
      error.message,
      `${MONITOR_FILE}:5:14: webhooks[0] (name 'ops'): Key 'url' must be an http or https URL`,
      url,
    );
    assert.ok(!error.message.includes(token) && !error.message.includes(host), url);
    assert.ok(!error.message.includes("leaky"), url);
  }
  assert.match(
    monitorError(webhooksDoc({ url: ["https://x.example"] })).message,
    /webhooks\[0\]: Key 'url' must be a string, got array$/,
  );
  assert.match(
    monitorError(webhooksDoc({ name: "ops" })).message,
    /:3:5: webhooks\[0\] \(name 'ops'\): Missing required key 'url'$/,
  );
});

Deno.test("parseMonitorConfig() never shows a webhook URL or secret in any message", () => {
  const url = "https://secret-host.example/hooks/SUPERSECRETTOKEN";
  const secret = `whsec_${btoa("TOPSECRETBYTES!".repeat(2))}`;
  const secrets = ["secret-host", "SUPERSECRETTOKEN", secret.slice(6), secret.slice(6, 14)];
  const texts = [
    webhooksDoc({ url, secret: secret + "x" }),
    webhooksDoc({ url, secret, secret_file: "/x" }),
    webhooksDoc({ url, secret, events: [] }),
    webhooksDoc({ url, secret, timeout_ms: 1, name: "BAD NAME" }),
    webhooksDoc({ url, secret, urll: 1 }, { url, secret }, url),
    webhooksDoc({ url: `gopher${url.slice(5)}`, secret }),
    webhooksDoc({ name: url, url, secret }),
    webhooksDoc({ name: secret, url: secret }),
    JSON.stringify({ slack_enabled: true, slack_webhook_url: `ftp${url.slice(5)}` }),
    JSON.stringify({ slack_enabled: true, slack_webhook_url: url.slice(8) }),
    JSON.stringify({ slack_enabled: 1, slack_webhook_url: url, webhooks: { url, secret } }),
  ];
  for (const text of texts) {
    const error = monitorError(text);
    for (const part of secrets) {
      assert.ok(!error.message.includes(part), `${part} in ${error.message}`);
      for (const problem of error.problems) assert.ok(!problem.entry?.includes(part));
    }
  }
});

Deno.test("parseMonitorConfig() validates webhook names", () => {
  const message = (...items: unknown[]) => monitorError(webhooksDoc(...items)).message;
  const url = "https://a.example";
  for (const name of ["Ops", "", "a".repeat(41), "a b", "a.b", "é"]) {
    assert.match(
      message({ name, url }),
      /webhooks\[0\]: Key 'name' must match \^\[a-z0-9_-\]\{1,40\}\$$/,
      name,
    );
  }
  assert.match(
    message({ name: 7, url }),
    /webhooks\[0\]: Key 'name' must be a string, got number$/,
  );
  assert.match(
    message({ name: "slack", url }),
    /webhooks\[0\] \(name 'slack'\): Key 'name' must not be 'slack' \(reserved\)$/,
  );
  assert.match(
    message({ name: "ops", url }, { name: "ops", url }),
    /:8:15: webhooks\[1\] \(name 'ops'\): Duplicate name 'ops', already used by webhooks\[0\]$/,
  );
  // A default name clashing with an explicit one, in either order.
  assert.match(
    message({ name: "webhook2", url }, { url }),
    /:7:5: webhooks\[1\]: Default name 'webhook2' is already used by webhooks\[0\], set 'name'$/,
  );
  assert.match(
    message({ url }, { name: "webhook1", url }),
    /webhooks\[1\] \(name 'webhook1'\): Duplicate name 'webhook1', already used by webhooks\[0\]$/,
  );
});

Deno.test("parseMonitorConfig() validates webhook events", () => {
  const message = (events: unknown) =>
    monitorError(webhooksDoc({ name: "ops", url: "https://a.example", events })).message;
  assert.match(
    message([]),
    /\(name 'ops'\): Key 'events' must not be empty, leave it out to send every event$/,
  );
  assert.match(message("locked"), /Key 'events' must be an array of event names, got string$/);
  assert.match(
    message(["locked", "lockd"]),
    /:8:9: webhooks\[0\] \(name 'ops'\): Item events\[1\] must be one of 'soft_exceeded', .*'tamper'.*, got 'lockd'$/,
  );
  assert.match(message(["locked", "locked"]), /Item events\[1\] repeats event 'locked'$/);
  assert.match(message([null]), /Item events\[0\] must be a string \(event name\), got null$/);
});

Deno.test("parseMonitorConfig() validates webhook secret_file and timeout_ms", () => {
  const message = (extra: Record<string, unknown>) =>
    monitorError(webhooksDoc({ url: "https://a.example", ...extra })).message;
  assert.match(
    message({ secret: SECRET, secret_file: "/run/s" }),
    /:6:7: webhooks\[0\]: Set only one of 'secret' and 'secret_file'$/,
  );
  assert.match(message({ secret_file: "" }), /Key 'secret_file' must not be empty$/);
  assert.match(message({ secret_file: 1 }), /Key 'secret_file' must be a string, got number$/);
  assert.match(
    message({ timeout_ms: 99 }),
    /webhooks\[0\]: Key 'timeout_ms' must be at least 100 milliseconds, got 99$/,
  );
  assert.match(message({ timeout_ms: 120001 }), /must be at most 120000 milliseconds/);
  assert.match(message({ timeout_ms: null }), /'timeout_ms' must be a whole number .*got null$/);
});

Deno.test("parseMonitorConfig() rejects unknown webhook keys with a suggestion", () => {
  const error = monitorError(
    webhooksDoc({ name: "ops", url: "https://a.example", secrte: "x", timeout: 5, color: 1 }),
  );
  assert.deepEqual(error.message.split("\n"), [
    `${MONITOR_FILE}:6:7: webhooks[0] (name 'ops'): Unknown key 'secrte', did you mean 'secret'?`,
    `${MONITOR_FILE}:7:7: webhooks[0] (name 'ops'): Unknown key 'timeout'`,
    `${MONITOR_FILE}:8:7: webhooks[0] (name 'ops'): Unknown key 'color'`,
  ]);
  assert.equal(error.entry, "webhooks[0] (name 'ops')");
  assert.match(
    monitorError(webhooksDoc({ url: "https://a.example", timeout_msec: 5 })).message,
    /Unknown key 'timeout_msec', did you mean 'timeout_ms'\?$/,
  );
});

Deno.test("parseMonitorConfig() reports every webhook problem in file order", () => {
  const text = `{
  "webhooks": [
    "https://not-an-object.example",
    {"name": "ops", "url": "ftp://x", "events": ["locked", "nope"]},
    {"url": "https://ok.example", "timeout_ms": 50},
  ],
  "alert_timeout_ms": 50,
}`;
  const error = monitorError(text);
  assert.deepEqual(error.message.split("\n"), [
    `${MONITOR_FILE}:3:5: webhooks[0]: Entry must be an object, got string`,
    `${MONITOR_FILE}:4:28: webhooks[1] (name 'ops'): Key 'url' must be an http or https URL`,
    `${MONITOR_FILE}:4:60: webhooks[1] (name 'ops'): Item events[1] must be one of ${
      ALERT_EVENTS.map((e) => `'${e}'`).join(", ")
    }, got 'nope'`,
    `${MONITOR_FILE}:5:49: webhooks[2]: Key 'timeout_ms' must be at least 100 milliseconds, got 50`,
    `${MONITOR_FILE}:7:23: Key 'alert_timeout_ms' must be at least 100 milliseconds, got 50`,
  ]);
  assert.ok(!error.message.includes("not-an-object"));
  assert.match(
    monitorError(`{"webhooks": {"url": "https://a.example"}}`).message,
    /:1:14: Key 'webhooks' must be an array of objects, got object$/,
  );
  assert.match(monitorError(`{"webhooks": null}`).message, /got null$/);
  assert.match(
    monitorError(`{"webhoks": []}`).message,
    /Unknown key 'webhoks', did you mean 'webhooks'\?$/,
  );
});

// --- ConfigError ---------------------------------------------------------------------------

Deno.test("ConfigError formats problems one per line", () => {
  const error = new ConfigError([
    { file: "/a.json", message: "First", line: 1, column: 2, entry: "user_limits[0]" },
    { file: "/b.json", message: "Second" },
  ]);
  assert.equal(error.name, "ConfigError");
  assert.ok(error instanceof Error);
  assert.equal(error.message, "/a.json:1:2: user_limits[0]: First\n/b.json: Second");
  assert.equal(error.file, "/a.json");
  assert.equal(error.line, 1);
  assert.equal(error.column, 2);
  assert.equal(error.entry, "user_limits[0]");
  assert.throws(() => new ConfigError([]), TypeError);
});

// --- loadConfig ----------------------------------------------------------------------------

/** Runs `fn` with a fresh temporary directory that is removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "config_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Calls loadConfig() expecting a ConfigError. */
async function loadError(dir: string): Promise<ConfigError> {
  try {
    await loadConfig(dir);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("loadConfig() did not throw");
}

Deno.test("loadConfig() reads both files from a directory", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/user_limits.json`, limitsDoc(entry({ user: "bob" })));
    await Deno.writeTextFile(
      `${dir}/monitor_config.json`,
      `{"port": 6543, "password_file": "pw"}`,
    );
    const config = await loadConfig(dir);
    assert.equal(config.dir, dir);
    assert.deepEqual(config.files, {
      limits: `${dir}/user_limits.json`,
      monitor: `${dir}/monitor_config.json`,
    });
    assert.equal(config.limits.length, 1);
    assert.equal(config.limits[0]?.user, "bob");
    assert.equal(config.monitor.port, 6543);
    assert.equal(config.monitor.password_file, `${dir}/pw`);
  });
});

Deno.test("loadConfig() uses defaults when monitor_config.json is missing", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/user_limits.json`, `{"user_limits": []}`);
    const config = await loadConfig(dir);
    assert.deepEqual(config.limits, []);
    assert.deepEqual(config.monitor, defaultMonitorConfig(dir));
    assert.equal(config.monitor.password_file, `${dir}/monitor_user.passwd`);
  });
});

Deno.test("loadConfig() rejects a missing user_limits.json", async () => {
  await withTempDir(async (dir) => {
    const error = await loadError(dir);
    assert.equal(error.file, `${dir}/user_limits.json`);
    assert.equal(error.message, `${dir}/user_limits.json: File not found`);
  });
});

Deno.test("loadConfig() reports problems of both files together", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/user_limits.json`, `{"user_limits": [}`);
    await Deno.writeTextFile(`${dir}/monitor_config.json`, `{"port": 0}`);
    const error = await loadError(dir);
    assert.deepEqual(error.message.split("\n"), [
      `${dir}/user_limits.json:1:18: Cannot parse JSON: expected a value`,
      `${dir}/monitor_config.json:1:10: Key 'port' must be at least 1, got 0`,
    ]);
  });
});

Deno.test("loadConfig() rejects files that are not UTF-8", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(
      `${dir}/user_limits.json`,
      new Uint8Array([...new TextEncoder().encode(`{"user_limits": [{"user": "`), 0xff, 0x22]),
    );
    const error = await loadError(dir);
    assert.equal(error.message, `${dir}/user_limits.json: File is not valid UTF-8`);
  });
});

Deno.test("parseMonitorConfig() accepts detection 'poll' and rejects other modes", () => {
  const c = parseMonitorConfig(
    '{"detection": "poll", "poll_interval_ms": 250, "lock_poll_interval_ms": 0}',
    "/etc/postgres_monitor/monitor_config.json",
    "/etc/postgres_monitor",
  );
  assert.equal(c.detection, "poll");
  assert.equal(c.poll_interval_ms, 250);
  assert.equal(c.lock_poll_interval_ms, 0);
  assert.throws(
    () => parseMonitorConfig('{"detection": "notify"}', "/x/monitor_config.json", "/x"),
    /detection/,
  );
  assert.throws(
    () => parseMonitorConfig('{"poll_interval_ms": 10}', "/x/monitor_config.json", "/x"),
    /poll_interval_ms.*at least 50/,
  );
});
