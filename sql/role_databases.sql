-- Databases where each given role ($1: JSON array of oids) owns something: the objects it owns
-- per database (pg_shdepend, a shared catalog, deptype 'o') and the databases it owns. Only
-- these databases' measurements decide whether the role may be unlocked. The owners are
-- materialized first: joined as a set-returning function, the planner guessed 100 rows and
-- re-ran it for every pg_shdepend row (1.5 s at 1,000 roles and 10,000 tables; now milliseconds).
WITH owners AS MATERIALIZED (
  SELECT DISTINCT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid AS oid
)
SELECT DISTINCT d.refobjid::int8 AS owner, db.datname
  FROM owners o
  JOIN pg_catalog.pg_shdepend d
    ON d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND d.refobjid = o.oid
  JOIN pg_catalog.pg_database db ON db.oid = d.dbid
 WHERE d.deptype = 'o'
UNION
SELECT db.datdba::int8, db.datname
  FROM pg_catalog.pg_database db
  JOIN owners o ON o.oid = db.datdba
