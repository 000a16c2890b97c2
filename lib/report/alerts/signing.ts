/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `${id}.${timestamp}.${body}` with the base64-decoded part of a "whsec_..." secret, sent as
 * `webhook-signature: v1,<base64>`.
 *
 * @module
 */

/** A signing secret that is not "whsec_" followed by base64; never includes the secret. */
export class WebhookSecretError extends Error {
  /** Builds the error; `message` is sentence case without a trailing period. */
  constructor(message: string) {
    super(message);
    this.name = "WebhookSecretError";
  }
}

const PREFIX = "whsec_";
const enc = new TextEncoder();

/**
 * Decodes a signing secret into its key bytes: the base64 after "whsec_" (the prefix is optional,
 * as in the reference libraries).
 *
 * @throws {WebhookSecretError} when the secret is empty or not base64.
 */
export function decodeSecret(secret: string): Uint8Array {
  const b64 = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  let raw: string;
  try {
    raw = atob(b64);
  } catch {
    throw new WebhookSecretError("Webhook secret must be 'whsec_' followed by base64");
  }
  if (raw.length === 0) throw new WebhookSecretError("Webhook secret is empty");
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function hmac(key: Uint8Array, text: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(text)));
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * The `webhook-signature` header value for one message: "v1," and the base64 HMAC-SHA256 of
 * `${id}.${timestampSeconds}.${body}`.
 *
 * @throws {WebhookSecretError} when the secret cannot be decoded.
 */
export async function signWebhook(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): Promise<string> {
  if (!Number.isSafeInteger(timestampSeconds)) {
    throw new RangeError("Webhook timestamp must be whole seconds");
  }
  const mac = await hmac(decodeSecret(secret), `${id}.${timestampSeconds}.${body}`);
  return `v1,${toBase64(mac)}`;
}

/** Options for {@linkcode verifyWebhook}. */
export interface VerifyOptions {
  /** Largest accepted distance between `webhook-timestamp` and now, seconds. @default {300} */
  toleranceSeconds?: number;
  /** Clock, ms since the epoch. @default {Date.now} */
  now?: () => number;
}

// Constant time, so a forger learns nothing from how long a comparison took.
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Checks a received message: `webhook-id`, `webhook-timestamp` (within the tolerance) and one of
 * the space-separated `v1,` signatures in `webhook-signature` must match `body`.
 *
 * @throws {WebhookSecretError} when the secret cannot be decoded (a configuration error, not a
 * forged message).
 */
export async function verifyWebhook(
  secret: string,
  headers: Headers | Record<string, string | undefined>,
  body: string,
  options: VerifyOptions = {},
): Promise<boolean> {
  const get = (name: string): string | null => {
    if (headers instanceof Headers) return headers.get(name);
    for (const [k, v] of Object.entries(headers)) {
      if (k.toLowerCase() === name && v !== undefined) return v;
    }
    return null;
  };
  const key = decodeSecret(secret);
  const id = get("webhook-id");
  const ts = get("webhook-timestamp");
  const sigs = get("webhook-signature");
  if (id === null || ts === null || sigs === null || !/^\d{1,15}$/.test(ts)) return false;
  const now = (options.now ?? Date.now)() / 1000;
  if (Math.abs(now - Number(ts)) > (options.toleranceSeconds ?? 300)) return false;
  const expected = toBase64(await hmac(key, `${id}.${ts}.${body}`));
  let ok = false;
  for (const sig of sigs.split(" ")) {
    if (sig.startsWith("v1,") && sameText(sig.slice(3), expected)) ok = true;
  }
  return ok;
}
