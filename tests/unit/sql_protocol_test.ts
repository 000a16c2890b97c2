/**
 * SQL lives in sql/, and what the SQL and the TypeScript must agree on is named once in each
 * language: the NOTIFY payloads (lib/watch/payload.ts), where the channel comes from, and the
 * leader lock's key (lib/leader.ts). These tests read the files, so the two cannot drift apart.
 */
import assert from "node:assert/strict";
import { SQL_NAMES } from "../../lib/db/sql_files.ts";
import { LEADER_LOCK_KEY } from "../../lib/leader.ts";
import { defaultMonitorConfig } from "../../lib/config/monitor.ts";
import {
  CATALOG_TEXT_CHANGED,
  DROPPED_PREFIX,
  LOCKS_CHANGED,
  parsePayload,
} from "../../lib/watch/payload.ts";

const ROOT = new URL("../../", import.meta.url);

/** The text of a file relative to the repository root. */
function read(path: string): string {
  return Deno.readTextFileSync(new URL(path, ROOT));
}

/** Relative paths of the files under `dir` whose names end with `ext`, recursively. */
function walk(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...walk(path, ext));
    else if (e.name.endsWith(ext)) out.push(path);
  }
  return out.sort();
}

/** Every sql/ file by name (without .sql). */
function sqlFiles(): Map<string, string> {
  return new Map(walk("sql", ".sql").map((p) => [p.slice(4, -4), read(p)]));
}

/** SQL without its `--` comments (string literals kept whole; dollar quotes are code here). */
function stripComments(sql: string): string {
  let out = "";
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'") {
      const end = sql.indexOf("'", i + 1);
      out += sql.slice(i, end + 1);
      i = end;
    } else if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end - 1;
    } else {
      out += c;
    }
  }
  return out;
}

/** The argument texts of every call of `fn(` in `sql` (split at top-level commas). */
function calls(sql: string, fn: string): string[][] {
  const found: string[][] = [];
  let at = sql.indexOf(`${fn}(`);
  while (at >= 0) {
    const args: string[] = [];
    let depth = 0;
    let arg = "";
    let i = at + fn.length + 1;
    for (; i < sql.length; i++) {
      const c = sql[i]!;
      if (c === "'") {
        const end = sql.indexOf("'", i + 1);
        arg += sql.slice(i, end + 1);
        i = end;
        continue;
      }
      if (c === "(") depth++;
      if (c === ")" && depth-- === 0) break;
      if (c === "," && depth === 0) {
        args.push(arg.trim());
        arg = "";
      } else {
        arg += c;
      }
    }
    args.push(arg.trim());
    found.push(args);
    at = sql.indexOf(`${fn}(`, i);
  }
  return found;
}

/** A quoted SQL string literal of `text`. */
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

Deno.test("every sql/ file is embedded, every embedded name is a file, each opens with a comment", () => {
  const files = sqlFiles();
  assert.deepEqual([...files.keys()].sort(), [...SQL_NAMES].sort());
  for (const [name, text] of files) {
    assert.match(text, /^-- \S/, `sql/${name}.sql must open with a comment saying what it does`);
  }
});

Deno.test("lib/ runs no SQL text of its own: every unsafe() call is given an sql/ file", () => {
  for (const path of walk("lib", ".ts")) {
    const text = read(path);
    for (const m of text.matchAll(/\.unsafe\(\s*/g)) {
      const rest = text.slice(m.index + m[0].length);
      assert.ok(
        rest.startsWith("sqlFile("),
        `${path}: unsafe() with SQL text that is not an sql/ file: ${rest.slice(0, 60)}`,
      );
    }
    // A tagged template is SQL text too. The one exception: LISTEN takes no parameter, and its
    // channel goes through the driver's identifier quoting (lib/watch/listener.ts).
    for (const m of text.matchAll(/\b(?:sql|tx|admin|control|conn)`\s*([A-Z]{3,}[^`]*)`/g)) {
      assert.ok(
        path === "lib/watch/listener.ts" && m[1]!.startsWith("LISTEN "),
        `${path}: SQL in a tagged template: ${m[0].slice(0, 60)}`,
      );
    }
  }
});

Deno.test("every NOTIFY payload in sql/ is one of lib/watch/payload.ts, spelled there once", () => {
  const payloads = [DROPPED_PREFIX, LOCKS_CHANGED, CATALOG_TEXT_CHANGED];
  const seen = new Map<string, string[]>();
  let notifies = 0;
  for (const [name, text] of sqlFiles()) {
    const code = stripComments(text);
    // A literal shaped like a payload (`x:...`) must be one of ours, and each is written once.
    for (const m of code.matchAll(/'([a-z]{1,2}:[a-z]*)'/g)) {
      assert.ok(payloads.includes(m[1]!), `sql/${name}.sql: payload ${m[0]} is not in payload.ts`);
      seen.set(m[1]!, [...seen.get(m[1]!) ?? [], name]);
    }
    for (const [channel, payload, ...more] of calls(code, "pg_notify")) {
      notifies++;
      assert.equal(more.length, 0);
      // The channel: the install's setting, baked into channel() and into notify_write() (%L),
      // or $1 from the config's listen_channel (announce_locks.sql). Never a literal.
      assert.ok(
        ["postgres_monitor.channel()", "%L", "$1"].includes(channel!),
        `sql/${name}.sql: pg_notify on channel ${channel}`,
      );
      // The payload: a relation's oid as text, the dropped prefix and an oid, a payload.ts
      // constant, or $2 (announce_locks.sql, given LOCKS_CHANGED).
      const oidText = /^[a-z_.]+::text$/i;
      const ok = oidText.test(payload!) ||
        (payload!.startsWith(`${literal(DROPPED_PREFIX)} ||`) &&
          oidText.test(payload!.slice(literal(DROPPED_PREFIX).length + 3).trim())) ||
        payloads.some((p) => payload === literal(p)) ||
        (name === "announce_locks" && payload === "$2");
      assert.ok(ok, `sql/${name}.sql: pg_notify payload ${payload} is not of payload.ts`);
    }
  }
  assert.ok(notifies >= 5, `found only ${notifies} pg_notify calls: did the parser break?`);
  for (const p of [DROPPED_PREFIX, CATALOG_TEXT_CHANGED]) {
    assert.equal(
      seen.get(p)?.length,
      1,
      `'${p}' written in sql/ ${seen.get(p)?.length ?? 0} times`,
    );
  }
  assert.equal(seen.get(LOCKS_CHANGED), undefined, "c:locks comes from TypeScript ($2)");
  // What the SQL sends is what the daemon reads.
  assert.deepEqual(parsePayload(CATALOG_TEXT_CHANGED), { kind: "catalog_text" });
  assert.deepEqual(parsePayload(LOCKS_CHANGED), { kind: "locks" });
  assert.deepEqual(parsePayload(`${DROPPED_PREFIX}16384`), { kind: "relation", relid: 16384 });
});

Deno.test("the channel reaches sql/ only through the install setting that admin.ts passes", () => {
  const files = sqlFiles();
  const channel = defaultMonitorConfig("/").listen_channel;
  for (const [name, text] of files) {
    assert.ok(!text.includes(channel), `sql/${name}.sql spells the channel '${channel}'`);
  }
  const setting = "'postgres_monitor.install_channel'";
  assert.ok(files.get("install_settings")!.includes(`set_config(${setting}, $2, true)`));
  assert.ok(files.get("install_database")!.includes(`current_setting(${setting})`));
  assert.match(
    read("lib/commands/admin.ts"),
    /sqlFile\("install_settings"\),\s*\[config\.monitor\.user, config\.monitor\.listen_channel\]/,
  );
  assert.match(
    read("lib/commands/unlock.ts"),
    /sqlFile\("announce_locks"\), \[config\.monitor\.listen_channel, LOCKS_CHANGED\]/,
  );
});

Deno.test("the leader lock's key is spelled as LEADER_LOCK_KEY wherever it is spelled", () => {
  const { classid, objid } = LEADER_LOCK_KEY;
  const control = read("sql/install_control.sql");
  assert.match(control, new RegExp(`key_classid constant integer := ${classid};`));
  assert.match(control, new RegExp(`key_objid constant integer := ${objid};`));
  const readme = read("README.md");
  const said = [...readme.matchAll(/pg_try_advisory_lock\((\d+), (\d+)\)/g)];
  assert.ok(said.length > 0, "the README names the key");
  for (const m of said) assert.deepEqual([Number(m[1]), Number(m[2])], [classid, objid]);
  // Nowhere else: a file that needs the key imports it (TypeScript) or takes it as $1, $2 (SQL).
  const allowed = ["lib/leader.ts", "sql/install_control.sql", "README.md"];
  const files = [
    "main.ts",
    "README.md",
    ...["lib", "sql", "tests", "scripts", "contrib"]
      .flatMap((d) => [...walk(d, ".ts"), ...walk(d, ".sql"), ...walk(d, ".md")]),
  ];
  for (const path of files) {
    if (path === "tests/unit/sql_protocol_test.ts") continue;
    const text = read(path);
    const spelled = [/1886220142/, /0x706d6f6e/i, new RegExp(`\\b${classid}\\b`)]
      .some((re) => re.test(text));
    assert.ok(!spelled || allowed.includes(path), `${path} spells the leader lock's key`);
  }
  for (const name of ["leader_check", "leader_who"]) {
    assert.match(read(`sql/${name}.sql`), /classid = \$1::oid AND (l\.)?objid = \$2::oid/);
  }
});

Deno.test("the alert pump's page is EVENTS_PAGE_ROWS, which events_since.sql takes as $2", () => {
  const text = stripComments(read("sql/events_since.sql"));
  assert.match(text, /\bLIMIT \$2\s*$/);
  assert.doesNotMatch(text, /LIMIT \d/);
  assert.match(
    read("lib/report/outbox.ts"),
    /sqlFile\("events_since"\), \[mark, EVENTS_PAGE_ROWS\]/,
  );
  // The pump (wherever it lives) stops at a short page, judged by the same constant.
  const pumps = walk("lib", ".ts").filter((p) => /\.length < EVENTS_PAGE_ROWS\b/.test(read(p)));
  assert.ok(pumps.length > 0, "no alert pump compares a page with EVENTS_PAGE_ROWS");
});
