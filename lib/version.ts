/** Version of postgres_realtime_monitor (kept in one place). */
export const VERSION = "0.1.0";
