import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHmac } from "node:crypto";
import {
  decodeSecret,
  signWebhook,
  verifyWebhook,
  WebhookSecretError,
} from "../../lib/report/alerts/mod.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS = 1614265330;
const BODY = '{"test": 2432232314}';

function nodeSignature(secret: string, id: string, ts: number, body: string): string {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  return "v1," + createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
}

Deno.test("signWebhook() matches an independent node:crypto HMAC", async () => {
  assert.equal(await signWebhook(SECRET, ID, TS, BODY), nodeSignature(SECRET, ID, TS, BODY));
  const secret = "whsec_" + btoa("another key, longer than the block size of SHA-256 ".repeat(3));
  const body = JSON.stringify({ role: 'we"ird ✓', n: 1 });
  assert.equal(
    await signWebhook(secret, "msg_1", 1700000000, body),
    nodeSignature(secret, "msg_1", 1700000000, body),
  );
});

Deno.test("signWebhook() reproduces the published Standard Webhooks example", async () => {
  assert.equal(
    await signWebhook(SECRET, ID, TS, BODY),
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  );
});

Deno.test("signWebhook() accepts the secret without its whsec_ prefix", async () => {
  assert.equal(
    await signWebhook(SECRET.slice(6), ID, TS, BODY),
    await signWebhook(SECRET, ID, TS, BODY),
  );
});

Deno.test("decodeSecret() rejects empty and non-base64 secrets without echoing them", () => {
  assert.throws(() => decodeSecret("whsec_"), WebhookSecretError);
  assert.throws(
    () => decodeSecret("whsec_not base64!!"),
    (err: Error) => err.name === "WebhookSecretError" && !err.message.includes("not base64!!"),
  );
  assert.deepEqual([...decodeSecret("whsec_AQID")], [1, 2, 3]);
});

Deno.test("verifyWebhook() accepts a signed message and rejects tampering", async () => {
  const now = () => TS * 1000 + 10_000;
  const sig = await signWebhook(SECRET, ID, TS, BODY);
  const headers = { "webhook-id": ID, "webhook-timestamp": String(TS), "webhook-signature": sig };
  assert.equal(await verifyWebhook(SECRET, headers, BODY, { now }), true);
  assert.equal(await verifyWebhook(SECRET, new Headers(headers), BODY, { now }), true);
  // Upper-case header names in a plain record are found too.
  assert.equal(
    await verifyWebhook(
      SECRET,
      { "Webhook-Id": ID, "Webhook-Timestamp": String(TS), "Webhook-Signature": sig },
      BODY,
      { now },
    ),
    true,
  );
  assert.equal(await verifyWebhook(SECRET, headers, BODY + " ", { now }), false);
  assert.equal(
    await verifyWebhook(SECRET, { ...headers, "webhook-id": "msg_x" }, BODY, { now }),
    false,
  );
  assert.equal(
    await verifyWebhook(SECRET, { ...headers, "webhook-timestamp": String(TS + 1) }, BODY, { now }),
    false,
  );
  assert.equal(await verifyWebhook("whsec_" + btoa("other"), headers, BODY, { now }), false);
  const { "webhook-signature": _, ...unsigned } = headers;
  assert.equal(await verifyWebhook(SECRET, unsigned, BODY, { now }), false);
  assert.equal(
    await verifyWebhook(SECRET, { ...headers, "webhook-signature": "v2," + sig.slice(3) }, BODY, {
      now,
    }),
    false,
  );
});

Deno.test("verifyWebhook() accepts any one of several space-separated signatures", async () => {
  const now = () => TS * 1000;
  const sig = await signWebhook(SECRET, ID, TS, BODY);
  const headers = {
    "webhook-id": ID,
    "webhook-timestamp": String(TS),
    "webhook-signature": `v1,AAAA ${sig} v1a,zzz`,
  };
  assert.equal(await verifyWebhook(SECRET, headers, BODY, { now }), true);
});

Deno.test("verifyWebhook() rejects timestamps outside the tolerance", async () => {
  const sig = await signWebhook(SECRET, ID, TS, BODY);
  const headers = { "webhook-id": ID, "webhook-timestamp": String(TS), "webhook-signature": sig };
  assert.equal(await verifyWebhook(SECRET, headers, BODY, { now: () => (TS + 301) * 1000 }), false);
  assert.equal(await verifyWebhook(SECRET, headers, BODY, { now: () => (TS - 301) * 1000 }), false);
  assert.equal(
    await verifyWebhook(SECRET, headers, BODY, {
      now: () => (TS + 3600) * 1000,
      toleranceSeconds: 7200,
    }),
    true,
  );
  assert.equal(
    await verifyWebhook(SECRET, { ...headers, "webhook-timestamp": "1e9" }, BODY, {
      now: () => 1e12,
    }),
    false,
  );
});

Deno.test("signWebhook() refuses a fractional timestamp", async () => {
  await assert.rejects(() => signWebhook(SECRET, ID, 1.5, BODY), RangeError);
});
