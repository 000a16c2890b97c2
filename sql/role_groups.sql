-- Every role the given limited roles ($1: JSON array of oids) are direct or indirect members of
-- (pg_auth_members, a shared catalog: the same in every database, installed or not), with what
-- the daemon needs to know to protect it and which of the given roles are its members. A member
-- may create objects as, or give ownership to, such a group: its storage is charged to them
-- (lib/evaluate/charges.ts). UNION stops at each (member, group) pair already seen.
WITH RECURSIVE limited AS MATERIALIZED (
  SELECT DISTINCT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid AS oid
), up (member, grp) AS (
  SELECT m.member, m.roleid
    FROM pg_catalog.pg_auth_members m
    JOIN limited l ON l.oid = m.member
  UNION
  SELECT up.member, m.roleid
    FROM up
    JOIN pg_catalog.pg_auth_members m ON m.member = up.grp
)
SELECT g.oid::int8 AS oid,
       g.rolname::text AS name,
       g.rolsuper AS superuser,
       g.rolreplication AS replication,
       g.rolname = SESSION_USER AS is_self,
       pg_catalog.jsonb_agg(DISTINCT up.member::int8) AS members
  FROM up
  JOIN pg_catalog.pg_roles g ON g.oid = up.grp
 WHERE up.grp <> up.member
 GROUP BY g.oid, g.rolname, g.rolsuper, g.rolreplication
