import assert from "node:assert/strict";
import {
  defaultMonitorConfig,
  parseMonitorConfig,
  RESTART_KEYS,
  SETTING_KEYS,
  SETTINGS,
} from "../../lib/config/monitor.ts";
import {
  exampleConfig,
  readmeSettingRows,
  settingRows,
  settingsTable,
} from "../../lib/config/settings_doc.ts";

const ROOT = new URL("../../", import.meta.url);
const HEADING = "### `monitor_config.json`";
const FIX = "paste the output of `deno run scripts/settings_table.ts` into README.md";

Deno.test("the README's settings table agrees with lib/config/settings.ts", async () => {
  const readme = readmeSettingRows(
    await Deno.readTextFile(new URL("README.md", ROOT)),
    HEADING,
  );
  const table = settingRows();
  assert.deepEqual(readme.map((r) => r.key), table.map((r) => r.key), `key names differ: ${FIX}`);
  for (const [i, want] of table.entries()) {
    const got = readme[i]!;
    assert.equal(got.default, want.default, `default of ${want.key} differs: ${FIX}`);
    assert.equal(got.applies, want.applies, `"takes effect" of ${want.key} differs: ${FIX}`);
    assert.equal(got.doc, want.doc, `meaning of ${want.key} differs: ${FIX}`);
  }
});

Deno.test("readmeSettingRows() reads back what settingsTable() prints", () => {
  const readme = `# x\n\n${HEADING}\n\nText.\n\n${settingsTable()}\nAfter.\n`;
  assert.deepEqual(readmeSettingRows(readme, HEADING), settingRows());
});

Deno.test("the example config is the one made from the settings and holds the defaults", async () => {
  const file = new URL("systemd/monitor_config.example.json", ROOT);
  const text = await Deno.readTextFile(file);
  assert.equal(
    text,
    exampleConfig(),
    "run: deno run scripts/settings_table.ts --example > systemd/monitor_config.example.json",
  );
  const dir = "/etc/postgres_monitor";
  assert.deepEqual(parseMonitorConfig(text, file.pathname, dir), defaultMonitorConfig(dir));
  // Every commented-out key can be uncommented as it is.
  const uncommented = text.replaceAll(/^ {2}\/\/ (".*)$/gm, "  $1");
  assert.deepEqual(parseMonitorConfig(uncommented, file.pathname, dir), defaultMonitorConfig(dir));
});

Deno.test("every setting has one documentation line a Markdown table can hold", () => {
  for (const key of SETTING_KEYS) {
    const { doc } = SETTINGS[key];
    assert.ok(doc.length > 0 && !/[|\n]/.test(doc), `${key}: ${JSON.stringify(doc)}`);
  }
});

Deno.test("settings read only when the daemon starts are restart-only", () => {
  // Each is read once at start: connections and their session settings, listeners, the metrics
  // server, pid file, state directory, syslog and alert endpoints.
  for (
    const key of [
      "host",
      "port",
      "user",
      "password_file",
      "control_database",
      "connect_timeout",
      "application_name",
      "measure_lock_timeout_ms",
      "listen_channel",
      "metrics_listen",
      "pid_file",
      "state_dir",
      "syslog_enabled",
      "syslog_socket",
      "slack_enabled",
      "webhooks",
      "alert_timeout_ms",
    ] as const
  ) {
    assert.ok(RESTART_KEYS.includes(key), key);
  }
  for (const key of ["sweep_interval", "log_level", "dry_run", "hot_interval_ms"] as const) {
    assert.ok(!RESTART_KEYS.includes(key), key);
  }
});

Deno.test("defaultMonitorConfig() returns new lists each time and resolves password_file", () => {
  const a = defaultMonitorConfig("/etc/pm");
  a.exempt_roles.push("x");
  a.webhooks.push({
    name: "w",
    url: "https://example.com/",
    secret: null,
    secret_file: null,
    events: [],
    timeout_ms: 100,
  });
  const b = defaultMonitorConfig("/etc/pm");
  assert.deepEqual(b.exempt_roles, []);
  assert.deepEqual(b.webhooks, []);
  assert.equal(b.password_file, "/etc/pm/monitor_user.passwd");
});
