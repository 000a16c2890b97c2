import assert from "node:assert/strict";
import {
  type Alert,
  AlertConfigError,
  AlertManager,
  AlertManagerClosedError,
  type AlertManagerOptions,
  type Endpoint,
  type EndpointStats,
  parseRetryAfter,
  verifyWebhook,
  webhookId,
} from "../../lib/report/alerts/mod.ts";
import { Logger } from "../../lib/report/log.ts";

const SECRET = "whsec_" + btoa("test signing key for the alert delivery tests");

/** Wakes waiters whenever something observable happened (a request, a log line). */
class Changes {
  #waiters: (() => void)[] = [];

  notify() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `pred()` holds; fails after `timeoutMs`. */
  async until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}

interface Received {
  n: number;
  path: string;
  id: string | null;
  headers: Headers;
  body: string;
  at: number;
}

type Handler = (r: Received, srv: TestServer) => Response | Promise<Response>;

/** A real HTTP server on 127.0.0.1 that records requests and which of them it answered 2xx. */
class TestServer implements AsyncDisposable {
  requests: Received[] = [];
  delivered: Received[] = [];
  url: string;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #release = Promise.withResolvers<void>();
  #hangers: (() => void)[] = [];

  constructor(public changes: Changes, handler: Handler) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const r: Received = {
          n: this.requests.length + 1,
          path: new URL(req.url).pathname,
          id: req.headers.get("webhook-id"),
          headers: req.headers,
          body: await req.text(),
          at: performance.now(),
        };
        this.requests.push(r);
        changes.notify();
        const res = await handler(r, this);
        if (res.status >= 200 && res.status < 300) this.delivered.push(r);
        changes.notify();
        return res;
      },
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Answers (503) only once a later request arrived, i.e. the client gave up, or on dispose. */
  async hang(): Promise<Response> {
    const next = Promise.withResolvers<void>();
    this.#hangers.push(next.resolve);
    await Promise.race([next.promise, this.#release.promise]);
    return new Response("late", { status: 503 });
  }

  async [Symbol.asyncDispose]() {
    this.#release.resolve();
    await this.#server.shutdown();
  }
}

function alert(key: string, extra: Partial<Alert> = {}): Alert {
  return {
    key,
    event: "locked",
    role: "app_user",
    usage_bytes: 3 * 1024 ** 3,
    soft_limit_bytes: 1024 ** 3,
    hard_limit_bytes: 2 * 1024 ** 3,
    at: "2024-05-01T12:00:00.000Z",
    host: "db1",
    actor: null,
    detail: {},
    dry_run: false,
    ...extra,
  };
}

function webhook(name: string, url: string, extra: Partial<Endpoint> = {}): Endpoint {
  return { name, kind: "webhook", url, secret: SECRET, events: [], timeoutMs: 5000, ...extra };
}

interface Harness extends AsyncDisposable {
  dir: string;
  changes: Changes;
  lines: Record<string, unknown>[];
  raw: string[];
  log: Logger;
  open(endpoints: Endpoint[], extra?: Partial<AlertManagerOptions>): Promise<AlertManager>;
}

/** A temp dir, a capturing logger and the managers opened through it, all cleaned up. */
async function harness(): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "alerts_delivery_" });
  const changes = new Changes();
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const log = new Logger("debug", (l) => {
    raw.push(l);
    lines.push(JSON.parse(l));
    changes.notify();
  });
  const managers: AlertManager[] = [];
  return {
    dir,
    changes,
    lines,
    raw,
    log,
    async open(endpoints, extra = {}) {
      const m = await AlertManager.open({
        dir,
        endpoints,
        log,
        retryBaseMs: 20,
        retryMaxMs: 200,
        breakerFailures: 100,
        breakerCooldownMs: 100,
        slackMinIntervalMs: 100,
        ...extra,
      });
      managers.push(m);
      return m;
    },
    async [Symbol.asyncDispose]() {
      for (const m of managers) await m.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

const ok = () => new Response("ok");
const stat = (m: AlertManager, name: string): EndpointStats => {
  const s = m.stats().find((e) => e.endpoint === name);
  assert.ok(s, `no stats for ${name}`);
  return s;
};

Deno.test("500 then 200: each alert is delivered once, in order, with a stable signed id", async () => {
  await using h = await harness();
  await using srv = new TestServer(
    h.changes,
    (r) => r.n === 1 ? new Response("", { status: 500 }) : ok(),
  );
  const m = await h.open([webhook("hook", srv.url + "/in")]);
  assert.equal(await m.enqueue([alert("event:1"), alert("event:2", { event: "tamper" })]), 2);
  assert.equal(await m.idle(5000), true);

  const id1 = await webhookId("hook", "event:1");
  const id2 = await webhookId("hook", "event:2");
  assert.match(id1, /^msg_[0-9a-f]{32}$/);
  assert.deepEqual(srv.requests.map((r) => r.id), [id1, id1, id2]);
  assert.deepEqual(srv.delivered.map((r) => r.id), [id1, id2]);
  for (const r of srv.delivered) {
    assert.equal(r.headers.get("content-type"), "application/json");
    assert.ok(await verifyWebhook(SECRET, r.headers, r.body), "signature verifies");
  }
  const body = JSON.parse(srv.delivered[1]!.body);
  assert.equal(body.type, "postgres_monitor.tamper");
  assert.equal(body.data.key, "event:2");
  assert.deepEqual(stat(m, "hook"), {
    endpoint: "hook",
    queued: 0,
    sent: 2,
    retried: 1,
    dropped: 0,
    overflowed: 0,
    failed: 0,
    circuitOpen: false,
  });
  const warn = h.lines.find((l) => l.msg === "alert delivery failed, will retry");
  assert.equal(warn?.status, 500);
  assert.equal(warn?.endpoint, "hook");
});

Deno.test("an unsigned webhook endpoint sends no signature header", async () => {
  await using h = await harness();
  await using srv = new TestServer(h.changes, ok);
  const m = await h.open([webhook("plain", srv.url, { secret: null })]);
  await m.enqueue([alert("event:1")]);
  assert.equal(await m.idle(5000), true);
  assert.equal(srv.delivered[0]?.headers.get("webhook-signature"), null);
  assert.match(srv.delivered[0]?.headers.get("webhook-timestamp") ?? "", /^\d+$/);
});

Deno.test("a server that never answers: the request times out and is retried", async () => {
  await using h = await harness();
  await using srv = new TestServer(h.changes, (r, self) => r.n === 1 ? self.hang() : ok());
  const m = await h.open([webhook("slow", srv.url, { timeoutMs: 200 })]);
  await m.enqueue([alert("event:1")]);
  assert.equal(await m.idle(5000), true);
  assert.equal(srv.requests.length, 2);
  assert.ok(srv.requests[1]!.at - srv.requests[0]!.at >= 100);
  assert.deepEqual(srv.delivered.map((r) => r.id), [await webhookId("slow", "event:1")]);
  const s = stat(m, "slow");
  assert.equal(s.failed, 1);
  assert.equal(s.retried, 1);
  assert.equal(s.sent, 1);
  const warn = h.lines.find((l) => l.msg === "alert delivery failed, will retry");
  assert.equal(warn?.error, "timed out after 200 ms");
});

Deno.test("429 with Retry-After: 1 delays the next attempt by about a second", async () => {
  await using h = await harness();
  await using srv = new TestServer(
    h.changes,
    (r) => r.n === 1 ? new Response("", { status: 429, headers: { "retry-after": "1" } }) : ok(),
  );
  const m = await h.open([webhook("limited", srv.url)]);
  await m.enqueue([alert("event:1")]);
  assert.equal(await m.idle(5000), true);
  assert.equal(srv.requests.length, 2);
  // Backoff alone would retry within 20 ms; the server asked for one second.
  assert.ok(srv.requests[1]!.at - srv.requests[0]!.at >= 900);
  assert.equal(srv.delivered.length, 1);
});

Deno.test("parseRetryAfter() reads delta seconds and HTTP dates", () => {
  const now = Date.parse("2024-05-01T12:00:00Z");
  assert.equal(parseRetryAfter("1", now), 1000);
  assert.equal(parseRetryAfter(" 120 ", now), 120_000);
  assert.equal(parseRetryAfter("Wed, 01 May 2024 12:00:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter("Wed, 01 May 2024 11:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter("-5", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

Deno.test("400 drops the alert with an error naming the endpoint, and the next is delivered", async () => {
  await using h = await harness();
  await using srv = new TestServer(
    h.changes,
    (r) => r.n === 1 ? new Response("invalid_payload", { status: 400 }) : ok(),
  );
  const url = srv.url + "/services/T0/B0/SECRETTOKEN";
  const m = await h.open([webhook("picky", url)]);
  await m.enqueue([alert("event:1"), alert("event:2")]);
  assert.equal(await m.idle(5000), true);
  assert.deepEqual(srv.requests.map((r) => r.id), [
    await webhookId("picky", "event:1"),
    await webhookId("picky", "event:2"),
  ]);
  assert.deepEqual(srv.delivered.map((r) => r.id), [await webhookId("picky", "event:2")]);
  const s = stat(m, "picky");
  assert.equal(s.dropped, 1);
  assert.equal(s.sent, 1);
  assert.equal(s.retried, 0);
  const err = h.lines.find((l) => l.level === "error");
  assert.equal(err?.msg, "alert dropped: endpoint refused it");
  assert.equal(err?.endpoint, "picky");
  assert.equal(err?.status, 400);
  assert.equal(err?.reason, "invalid_payload");
  assert.ok(!h.raw.some((l) => l.includes("SECRETTOKEN") || l.includes(SECRET)));
  // A dropped alert counts as finished: the same key is not queued again.
  assert.equal(await m.enqueue([alert("event:1")]), 0);
});

Deno.test("the circuit opens after N failures, probes after the cooldown and closes on success", async () => {
  await using h = await harness();
  const seen: EndpointStats[] = [];
  const ref: { m?: AlertManager } = {};
  await using srv = new TestServer(h.changes, (r) => {
    if (ref.m) seen.push(stat(ref.m, "flaky"));
    return r.n <= 4 ? new Response("", { status: 503 }) : ok();
  });
  const m = ref.m = await h.open([webhook("flaky", srv.url)], {
    breakerFailures: 3,
    breakerCooldownMs: 300,
    retryBaseMs: 5,
    retryMaxMs: 10,
  });
  await m.enqueue([alert("event:1")]);
  assert.equal(await m.idle(5000), true);
  const at = srv.requests.map((r) => r.at);
  assert.equal(at.length, 5);
  // Requests 4 (the probe) and 5 each waited for the cooldown.
  assert.ok(at[3]! - at[2]! >= 290, `probe after ${at[3]! - at[2]!} ms`);
  assert.ok(at[4]! - at[3]! >= 290, `second probe after ${at[4]! - at[3]!} ms`);
  assert.deepEqual(seen.map((s) => s.circuitOpen), [false, false, false, true, true]);
  assert.equal(seen[3]?.retried, 3);
  const s = stat(m, "flaky");
  assert.equal(s.circuitOpen, false);
  assert.equal(s.sent, 1);
  assert.equal(s.retried, 4);
  assert.equal(h.lines.filter((l) => l.msg === "alert endpoint circuit open").length, 1);
  assert.equal(h.lines.filter((l) => l.msg === "alert endpoint circuit closed").length, 1);
});

Deno.test("a Slack endpoint gets at most one message per slackMinIntervalMs", async () => {
  await using h = await harness();
  await using srv = new TestServer(h.changes, ok);
  const slack: Endpoint = {
    name: "slack",
    kind: "slack",
    url: srv.url + "/services/T0/B0/XYZ",
    secret: null,
    events: [],
    timeoutMs: 5000,
  };
  const m = await h.open([slack], { slackMinIntervalMs: 250 });
  await m.enqueue([
    alert("event:1"),
    alert("event:2", { event: "soft_exceeded", role: "a<b>" }),
    alert("event:3"),
  ]);
  assert.equal(await m.idle(5000), true);
  const at = srv.delivered.map((r) => r.at);
  assert.equal(at.length, 3);
  for (let i = 1; i < at.length; i++) {
    assert.ok(at[i]! - at[i - 1]! >= 250, `gap ${i}: ${at[i]! - at[i - 1]!} ms`);
  }
  const bodies = srv.delivered.map((r) => JSON.parse(r.body));
  assert.deepEqual(Object.keys(bodies[0]), ["text"]);
  assert.ok(bodies[0].text.startsWith(":rotating_light: "));
  assert.ok(bodies[1].text.includes("`a&lt;b&gt;`"));
  assert.equal(srv.delivered[0]?.headers.get("webhook-id"), null);
});

Deno.test("close() with pending alerts, then reopen: each arrives exactly once, in order", async () => {
  await using h = await harness();
  let phase = 1;
  await using srv = new TestServer(
    h.changes,
    (r, self) => phase === 1 && r.n > 3 ? self.hang() : ok(),
  );
  const ep = webhook("durable", srv.url, { timeoutMs: 30_000 });
  const m = await h.open([ep]);
  const keys = Array.from({ length: 8 }, (_, i) => `event:${i + 1}`);
  assert.equal(await m.enqueue(keys.slice(0, 3).map((k) => alert(k))), 3);
  assert.equal(await m.enqueue(keys.slice(3).map((k) => alert(k)), 99), 5);
  await h.changes.until(() => srv.requests.length >= 4, "the fourth request");

  const t0 = performance.now();
  await m.close();
  assert.ok(performance.now() - t0 < 1000, "close() aborts the request in flight");
  assert.equal(srv.delivered.length, 3);
  await assert.rejects(() => m.enqueue([alert("event:9")]), AlertManagerClosedError);

  phase = 2;
  const again = await h.open([ep]);
  assert.equal(again.mark(), 99);
  assert.equal(again.stats()[0]?.queued, 5);
  assert.equal(await again.idle(5000), true);
  const expected = await Promise.all(keys.map((k) => webhookId("durable", k)));
  assert.deepEqual(srv.delivered.map((r) => r.id), expected);
  // Already delivered or pending keys are not queued again after the restart.
  assert.equal(await again.enqueue(keys.map((k) => alert(k))), 0);
});

Deno.test("each endpoint receives only the events it lists", async () => {
  await using h = await harness();
  await using srv = new TestServer(h.changes, ok);
  const m = await h.open([
    webhook("crit", srv.url + "/crit", { events: ["locked", "tamper"] }),
    webhook("all", srv.url + "/all"),
  ]);
  const added = await m.enqueue([
    alert("event:1", { event: "soft_exceeded" }),
    alert("event:2", { event: "locked" }),
    alert("event:3", { event: "tamper" }),
  ]);
  assert.equal(added, 5);
  assert.equal(await m.idle(5000), true);
  const types = (path: string) =>
    srv.delivered.filter((r) => r.path === path).map((r) => JSON.parse(r.body).type);
  assert.deepEqual(types("/crit"), ["postgres_monitor.locked", "postgres_monitor.tamper"]);
  assert.deepEqual(types("/all"), [
    "postgres_monitor.soft_exceeded",
    "postgres_monitor.locked",
    "postgres_monitor.tamper",
  ]);
});

Deno.test("enqueue() dedups keys and stores the mark even with no alerts", async () => {
  await using h = await harness();
  await using srv = new TestServer(h.changes, ok);
  const m = await h.open([webhook("hook", srv.url)]);
  assert.equal(m.mark(), undefined);
  assert.equal(await m.enqueue([alert("event:1"), alert("event:1")], 5), 1);
  assert.equal(await m.enqueue([alert("event:1")]), 0);
  assert.equal(await m.idle(5000), true);
  assert.equal(await m.enqueue([alert("event:1")]), 0);
  assert.equal(await m.enqueue([], 6), 0);
  assert.equal(m.mark(), 6);
  await assert.rejects(() => m.enqueue([{ ...alert("x"), key: "" }]), TypeError);
  assert.equal(srv.delivered.length, 1);
});

Deno.test("network errors are retried and logged without the URL or secret", async () => {
  await using h = await harness();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const url = `http://127.0.0.1:${port}/services/T0/B0/SECRETTOKEN?token=SECRETTOKEN`;
  const m = await h.open([webhook("down", url)], { breakerFailures: 2, breakerCooldownMs: 50 });
  await m.enqueue([alert("event:1")]);
  await h.changes.until(
    () => h.lines.filter((l) => l.msg === "alert delivery failed, will retry").length >= 3,
    "three failed attempts",
  );
  const s = stat(m, "down");
  assert.ok(s.failed >= 3);
  assert.equal(s.queued, 1);
  assert.equal(s.circuitOpen, true);
  const warn = h.lines.find((l) => l.msg === "alert delivery failed, will retry");
  assert.equal(typeof warn?.error, "string");
  assert.equal(warn?.endpoint, "down");
  for (const l of h.raw) {
    assert.ok(!l.includes("SECRETTOKEN"), l);
    assert.ok(!l.includes(SECRET) && !l.includes(SECRET.slice(6)), l);
    assert.ok(!l.includes(`127.0.0.1:${port}`), l);
  }
});

Deno.test("open() rejects bad endpoints without echoing URLs or secrets", async () => {
  await using h = await harness();
  const bad = async (ep: Endpoint, text: string) => {
    await assert.rejects(() => h.open([ep]), (err: Error) => {
      assert.ok(err instanceof AlertConfigError);
      assert.ok(err.message.includes(text), err.message);
      assert.ok(!err.message.includes("hunter2"), err.message);
      return true;
    });
  };
  await bad(webhook("x", "ftp://hunter2@example.com"), "url must be an http(s) URL");
  await bad(webhook("x", "not a url hunter2"), "url must be an http(s) URL");
  await bad(webhook("x", "http://127.0.0.1/", { secret: "whsec_hunter2!!" }), "secret");
  // The configuration's rule, for a secret_file's secret too: the prefix, and 24 to 64 bytes.
  await bad(webhook("x", "http://127.0.0.1/", { secret: "whsec_" + btoa("hunter2") }), "secret");
  await bad(webhook("x", "http://127.0.0.1/", { secret: btoa("hunter2".repeat(4)) }), "secret");
  await bad(webhook("x", "http://127.0.0.1/", { timeoutMs: 0 }), "timeoutMs");
  await assert.rejects(
    () => h.open([webhook("x", "http://127.0.0.1/"), webhook("x", "http://127.0.0.1/")]),
    AlertConfigError,
  );
});

Deno.test("when the journal cannot be written the error is logged and alerts still go out", async () => {
  await using h = await harness();
  await using srv = new TestServer(h.changes, ok);
  // compactBytes 1 makes every write a rewrite (temp file + rename), which needs the directory.
  const m = await h.open([webhook("hook", srv.url)], { compactBytes: 1 });
  await Deno.remove(h.dir, { recursive: true });
  assert.equal(await m.enqueue([alert("event:1"), alert("event:2")], 3), 2);
  assert.equal(m.mark(), 3);
  assert.equal(await m.idle(5000), true);
  assert.deepEqual(srv.delivered.map((r) => JSON.parse(r.body).data.key), ["event:1", "event:2"]);
  const err = h.lines.find((l) =>
    l.msg === "cannot write the alert journal; alerts are kept in memory only"
  );
  assert.equal(err?.level, "error");
  // Dedup still holds in memory.
  assert.equal(await m.enqueue([alert("event:1")]), 0);
});

Deno.test("deliveredThrough() does not scan the backlog: a drain stays linear", async () => {
  await using h = await harness();
  const n = 20_000;
  // The endpoint never answers: everything stays queued, the head in flight until close().
  const m = await h.open([webhook("hook", "http://127.0.0.1:9/in", { secret: null })], {
    fetch: (_url, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener("abort", () => reject(new Error("aborted")))
      ),
    maxPending: n,
  });
  const alerts = Array.from({ length: n }, (_, i) => alert(`event:${i + 1}`, { event: "tamper" }));
  assert.equal(await m.enqueue(alerts, n), n);
  assert.equal(m.deliveredThrough(), 0);
  // A drain reads the cursor after every delivery: 2,000 reads of a 20,000 backlog.
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) assert.equal(m.deliveredThrough(), 0);
  const ms = performance.now() - t0;
  assert.ok(ms < 500, `2,000 reads took ${Math.round(ms)} ms`);
});
