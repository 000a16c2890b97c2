/**
 * The optional HTTP listener: `/metrics` serves the same text as the textfile, `/healthz` answers
 * 200 only when every LISTEN connection is up and the last sweep is recent, 503 with a JSON reason
 * otherwise. Off unless `metrics_listen` is set.
 *
 * @module
 */

/** What `/healthz` reports. */
export interface Health {
  /** True when healthy. */
  ok: boolean;
  /** Why not, one line each. */
  reasons: string[];
}

/** Options for {@linkcode serveMetrics}. */
export interface ServeOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind (0 picks a free one). */
  port: number;
  /** Current metrics text. */
  metrics: () => string;
  /** Current health. */
  health: () => Health;
}

/** A running listener. */
export interface MetricsServer {
  /** The bound port. */
  port: number;
  /** Stops listening. */
  shutdown(): Promise<void>;
}

/** Handles one request (exported for tests). */
export function handle(req: Request, opts: Pick<ServeOptions, "metrics" | "health">): Response {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const path = new URL(req.url).pathname;
  if (path === "/metrics") {
    return new Response(opts.metrics(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  }
  if (path === "/healthz") {
    const h = opts.health();
    return Response.json(
      h.ok ? { status: "ok" } : { status: "unhealthy", reasons: h.reasons },
      { status: h.ok ? 200 : 503, headers: { "cache-control": "no-store" } },
    );
  }
  return new Response("not found: try /metrics or /healthz\n", { status: 404 });
}

/** Starts the listener. */
export function serveMetrics(opts: ServeOptions): MetricsServer {
  const server = Deno.serve(
    { hostname: opts.hostname, port: opts.port, onListen: () => {} },
    (req) => handle(req, opts),
  );
  return {
    port: server.addr.port,
    async shutdown() {
      await server.shutdown();
    },
  };
}
