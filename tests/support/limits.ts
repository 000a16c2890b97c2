/**
 * An EffectiveLimit for unit tests of the evaluate stage: one ordinary login with a `user` entry.
 *
 * @module
 */
import type { EffectiveLimit } from "../../lib/evaluate/resolve.ts";

/** Role `name` (oid `oid`) limited by a `user` entry with these soft and hard limits, no grace. */
export function userLimit(oid: number, name: string, soft: number, hard: number): EffectiveLimit {
  return {
    role: {
      oid,
      name,
      superuser: false,
      replication: false,
      can_login: true,
      is_self: false,
      groups: [],
    },
    limit: {
      user: name,
      soft_limit: soft,
      hard_limit: hard,
      manual_unlock: false,
      hard_grace_period: 0,
      unlock_grace_period: 0,
      index: 0,
    },
    source: "user",
    protectedReason: null,
  };
}
