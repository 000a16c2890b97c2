/**
 * The one alert receiver of the tests: a real HTTP server on 127.0.0.1 that takes the daemon's
 * Slack messages and webhooks, and answers as the test scripts it (fail, hang, rate-limit,
 * recover).
 *
 * @module
 */
import { verifyWebhook } from "../../lib/report/alerts/mod.ts";

/** What the receiver does with a request: accept it, answer 500, hang until closed, or 429. */
export type Behaviour = "ok" | "fail" | "hang" | "429";

/** One request the receiver accepted (answered 2xx). */
export interface ReceivedAlert {
  /** URL path: tells the endpoints apart (`/slack`, `/hook`). */
  path: string;
  /** The `webhook-id` header (the same on every retry of one alert), null on Slack messages. */
  id: string | null;
  /** The parsed JSON body. */
  body: Record<string, unknown>;
  /** A webhook's `type` (`postgres_monitor.<event>`); undefined on Slack messages. */
  type: string | undefined;
  /** A webhook's event log id (`data.detail.event_id`); undefined on Slack messages. */
  eventId: number | undefined;
  /** Whether the signature verified with the receiver's secret (false without one). */
  signed: boolean;
}

/** Options of {@linkcode AlertReceiver}. */
export interface AlertReceiverOptions {
  /** Webhook signing secret to verify each request with. @default {no verification} */
  secret?: string;
}

/** A real HTTP receiver whose answers the test scripts: a queue of behaviours, then a default. */
export class AlertReceiver implements AsyncDisposable {
  /** Requests accepted, in arrival order. */
  readonly accepted: ReceivedAlert[] = [];
  /** Behaviours for the next requests, taken from the front; then {@linkcode fallback}. */
  readonly script: Behaviour[] = [];
  /** What to do once the script is used up. */
  fallback: Behaviour = "ok";
  #attempts = 0;
  #hanging = new Set<() => void>();
  #server: Deno.HttpServer<Deno.NetAddr>;

  /** Starts listening on a free port of 127.0.0.1. */
  constructor(options: AlertReceiverOptions = {}) {
    const secret = options.secret;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        this.#attempts++;
        const text = await req.text();
        const what = this.script.shift() ?? this.fallback;
        if (what === "hang") {
          await new Promise<void>((r) => this.#hanging.add(r));
          return new Response("late", { status: 200 });
        }
        if (what === "fail") return new Response("boom", { status: 500 });
        if (what === "429") {
          return new Response("slow down", { status: 429, headers: { "retry-after": "1" } });
        }
        const body = JSON.parse(text);
        const detail = (body.data as { detail?: { event_id?: unknown } } | undefined)?.detail;
        this.accepted.push({
          path: new URL(req.url).pathname,
          id: req.headers.get("webhook-id"),
          body,
          type: body.type === undefined ? undefined : String(body.type),
          eventId: detail?.event_id === undefined ? undefined : Number(detail.event_id),
          signed: secret !== undefined && await verifyWebhook(secret, req.headers, text),
        });
        return new Response("ok");
      },
    );
  }

  /** Requests received, whatever the answer. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The URL of `path` on this receiver. */
  url(path: string): string {
    return `http://127.0.0.1:${this.#server.addr.port}${path}`;
  }

  /** Releases hanging requests and stops the server. */
  async close(): Promise<void> {
    for (const r of this.#hanging) r();
    await this.#server.shutdown();
  }

  /** Same as {@linkcode close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
