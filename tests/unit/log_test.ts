import assert from "node:assert/strict";
import { errorMessage, type Level, Logger } from "../../lib/report/log.ts";

function capture(level?: Level): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger(level, (line) => lines.push(line)), lines };
}

function parsed(lines: string[]): Record<string, unknown>[] {
  return lines.map((l) => JSON.parse(l));
}

Deno.test("Logger writes one JSON object per line with ts, level and msg", () => {
  const { log, lines } = capture();
  log.info("started", { roles: 3 });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]?.includes("\n"));
  const [entry] = parsed(lines);
  assert.ok(entry);
  assert.equal(entry.level, "info");
  assert.equal(entry.msg, "started");
  assert.equal(entry.roles, 3);
  assert.equal(typeof entry.ts, "string");
  assert.equal(new Date(entry.ts as string).toISOString(), entry.ts);
});

Deno.test("Logger puts ts, level and msg first", () => {
  const { log, lines } = capture();
  log.warn("m", { a: 1 });
  assert.deepEqual(Object.keys(parsed(lines)[0] ?? {}), ["ts", "level", "msg", "a"]);
});

Deno.test("Logger defaults to info and drops debug lines", () => {
  const { log, lines } = capture();
  log.debug("hidden");
  log.info("shown");
  assert.deepEqual(parsed(lines).map((e) => e.msg), ["shown"]);
});

Deno.test("Logger writes only lines at or above its level", () => {
  const { log, lines } = capture("warn");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(parsed(lines).map((e) => [e.level, e.msg]), [["warn", "w"], ["error", "e"]]);
});

Deno.test("Logger at debug level writes every level", () => {
  const { log, lines } = capture("debug");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(parsed(lines).map((e) => e.level), ["debug", "info", "warn", "error"]);
});

Deno.test("Logger.setLevel() changes which lines are written", () => {
  const { log, lines } = capture("error");
  log.info("before");
  log.setLevel("debug");
  log.debug("after");
  log.setLevel("error");
  log.warn("muted again");
  assert.deepEqual(parsed(lines).map((e) => e.msg), ["after"]);
});

Deno.test("Logger.log() takes the level as an argument", () => {
  const { log, lines } = capture("info");
  log.log("error", "boom");
  log.log("debug", "quiet");
  assert.deepEqual(parsed(lines).map((e) => [e.level, e.msg]), [["error", "boom"]]);
});

Deno.test("Logger writes an Error field as its message, with its code when it has one", () => {
  const { log, lines } = capture();
  const coded = Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
  log.error("failed", { error: new Error("plain"), coded, nested: { inner: new Error("deep") } });
  const [entry] = parsed(lines);
  assert.equal(entry?.error, "plain");
  assert.equal(entry?.coded, "connection refused (ECONNREFUSED)");
  assert.deepEqual(entry?.nested, { inner: "deep" });
});

Deno.test("Logger writes bigint fields as numbers instead of throwing", () => {
  const { log, lines } = capture();
  log.info("sizes", { bytes: 12_345n });
  assert.equal(parsed(lines)[0]?.bytes, 12_345);
});

Deno.test("Logger escapes newlines inside messages so a line stays one line", () => {
  const { log, lines } = capture();
  log.info("two\nlines", { detail: "a\nb" });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]?.includes("\n"));
  assert.equal(parsed(lines)[0]?.msg, "two\nlines");
});

Deno.test("errorMessage() returns the message of an Error", () => {
  assert.equal(errorMessage(new TypeError("bad type")), "bad type");
});

Deno.test("errorMessage() appends a string code not already in the message", () => {
  const err = Object.assign(new Error("permission denied for table t"), { code: "42501" });
  assert.equal(errorMessage(err), "permission denied for table t (42501)");
});

Deno.test("errorMessage() does not repeat a code the message already contains", () => {
  const err = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), {
    code: "ECONNREFUSED",
  });
  assert.equal(errorMessage(err), "connect ECONNREFUSED 127.0.0.1:5432");
});

Deno.test("errorMessage() ignores a code that is not a string", () => {
  const err = Object.assign(new Error("odd"), { code: 7 });
  assert.equal(errorMessage(err), "odd");
});

Deno.test("errorMessage() stringifies thrown values that are not Errors", () => {
  assert.equal(errorMessage("just text"), "just text");
  assert.equal(errorMessage(42), "42");
  assert.equal(errorMessage(undefined), "undefined");
  assert.equal(errorMessage(null), "null");
});
