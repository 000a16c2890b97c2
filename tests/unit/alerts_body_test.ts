import assert from "node:assert/strict";
import {
  type Alert,
  escapeSlack,
  isAlert,
  severityOf,
  slackBody,
  webhookBody,
} from "../../lib/report/alerts/mod.ts";

function alert(extra: Partial<Alert> = {}): Alert {
  return {
    key: "event:1234",
    event: "locked",
    role: "app_user",
    usage_bytes: 2_254_857_830,
    soft_limit_bytes: 1024 ** 3,
    hard_limit_bytes: 2 * 1024 ** 3,
    at: "2024-05-01T12:00:00.000Z",
    host: "db1",
    actor: null,
    detail: { database: "shop" },
    dry_run: false,
    ...extra,
  };
}

Deno.test("severityOf() maps every event and treats unknown ones as warnings", () => {
  assert.equal(severityOf("soft_exceeded"), "warning");
  assert.equal(severityOf("soft_cleared"), "info");
  assert.equal(severityOf("unlocked"), "info");
  assert.equal(severityOf("lock_released"), "info");
  for (const e of ["hard_exceeded", "locked", "sessions_terminated", "tamper"]) {
    assert.equal(severityOf(e), "critical", e);
  }
  assert.equal(severityOf("something_new"), "warning");
  assert.equal(severityOf("toString"), "warning");
});

Deno.test("slackBody() is one line with emoji, title, role in backticks and readable sizes", () => {
  const { text } = slackBody(alert({ actor: "unlock command (ops)" }));
  assert.equal(
    text,
    ":rotating_light: *Role locked*: role `app_user` — usage 2.1 GiB, soft 1 GiB, hard 2 GiB" +
      " — host db1 — by unlock command (ops) — at 2024-05-01T12:00:00.000Z",
  );
  assert.deepEqual(Object.keys(slackBody(alert())), ["text"]);
});

Deno.test("slackBody() picks the emoji by severity and omits unknown sizes", () => {
  const warn = slackBody(alert({ event: "soft_exceeded", hard_limit_bytes: null })).text;
  assert.ok(warn.startsWith(":warning: *Soft limit exceeded*"), warn);
  assert.ok(!warn.includes("hard"), warn);
  const info = slackBody(alert({ event: "unlocked", usage_bytes: null })).text;
  assert.ok(info.startsWith(":white_check_mark: *Role unlocked*"), info);
  assert.ok(!info.includes("usage"), info);
  const none = slackBody(
    alert({ event: "tamper", usage_bytes: null, soft_limit_bytes: null, hard_limit_bytes: null }),
  ).text;
  assert.ok(none.startsWith(":rotating_light: *Tampering detected*: role `app_user` — host"));
});

Deno.test("slackBody() prefixes dry-run alerts with DRY RUN", () => {
  assert.ok(slackBody(alert({ dry_run: true })).text.startsWith("DRY RUN :rotating_light: "));
  assert.ok(!slackBody(alert()).text.includes("DRY RUN"));
});

Deno.test("slackBody() escapes &, < and > in the role, host and actor", () => {
  const { text } = slackBody(
    alert({ role: `a&b<!channel>"x'`, host: "h<1>", actor: "me & <@U123>" }),
  );
  assert.ok(text.includes("role `a&amp;b&lt;!channel&gt;\"x'`"), text);
  assert.ok(text.includes("host h&lt;1&gt;"), text);
  assert.ok(text.includes("by me &amp; &lt;@U123&gt;"), text);
  assert.ok(!/[<>]/.test(text), text);
});

Deno.test("slackBody() keeps the message on one line and the code span closed", () => {
  const { text } = slackBody(alert({ role: "evil\n`role`\r\t\u0000" }));
  assert.ok([...text].every((c) => c.charCodeAt(0) >= 0x20), JSON.stringify(text));
  assert.ok(text.includes("role `evil\\n\u02cbrole\u02cb\\r\\t\\x00`"), text);
  assert.equal(text.split("`").length, 3);
});

Deno.test("escapeSlack() escapes ampersand first", () => {
  assert.equal(escapeSlack("&lt;"), "&amp;lt;");
  assert.equal(escapeSlack("<>&"), "&lt;&gt;&amp;");
});

Deno.test("webhookBody() has the Standard Webhooks shape with every alert field", () => {
  const a = alert({ actor: "ops", dry_run: true });
  const body = webhookBody(a);
  assert.deepEqual(body, {
    type: "postgres_monitor.locked",
    timestamp: "2024-05-01T12:00:00.000Z",
    data: {
      key: "event:1234",
      event: "locked",
      role: "app_user",
      usage_bytes: 2_254_857_830,
      soft_limit_bytes: 1024 ** 3,
      hard_limit_bytes: 2 * 1024 ** 3,
      at: "2024-05-01T12:00:00.000Z",
      host: "db1",
      actor: "ops",
      detail: { database: "shop" },
      dry_run: true,
    },
  });
  // The role goes out verbatim; JSON takes care of quoting.
  const odd = webhookBody(alert({ role: `we"ird\nrole` }));
  assert.equal((JSON.parse(JSON.stringify(odd)).data as Alert).role, `we"ird\nrole`);
});

Deno.test("isAlert() accepts alerts and rejects malformed values", () => {
  assert.ok(isAlert(alert()));
  assert.ok(isAlert(JSON.parse(JSON.stringify(alert()))));
  assert.ok(!isAlert(null));
  assert.ok(!isAlert({ ...alert(), key: "" }));
  assert.ok(!isAlert({ ...alert(), usage_bytes: "1" }));
  assert.ok(!isAlert({ ...alert(), detail: null }));
  const { dry_run: _, ...missing } = alert();
  assert.ok(!isAlert(missing));
});
