-- The roles named by the limits file ($1: user names) and every direct or indirect member of the
-- groups it names ($2: group names), with what the daemon needs to know to protect them.
WITH RECURSIVE grp (groupname, member) AS (
  SELECT g.rolname::text, m.member
    FROM pg_catalog.pg_auth_members m
    JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
   WHERE g.rolname = ANY (ARRAY(SELECT pg_catalog.jsonb_array_elements_text($2::text::jsonb)))
  UNION
  SELECT grp.groupname, m.member
    FROM grp
    JOIN pg_catalog.pg_auth_members m ON m.roleid = grp.member
)
SELECT r.oid::int8 AS oid,
       r.rolname::text AS name,
       r.rolsuper AS superuser,
       r.rolreplication AS replication,
       r.rolcanlogin AS can_login,
       r.rolname = SESSION_USER AS is_self,
       coalesce(pg_catalog.jsonb_agg(DISTINCT grp.groupname) FILTER (WHERE grp.groupname IS NOT NULL),
                '[]'::jsonb) AS groups
  FROM pg_catalog.pg_roles r
  LEFT JOIN grp ON grp.member = r.oid
 WHERE r.rolname = ANY (ARRAY(SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb))) OR grp.member IS NOT NULL
 GROUP BY r.oid, r.rolname, r.rolsuper, r.rolreplication, r.rolcanlogin
