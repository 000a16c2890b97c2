-- Databases where each given role ($1: JSON array of oids) owns something: the objects it owns
-- per database (pg_shdepend, a shared catalog, deptype 'o') and the databases it owns. Only
-- these databases' measurements decide whether the role may be unlocked.
SELECT d.refobjid::int8 AS owner, db.datname
  FROM pg_catalog.pg_shdepend d
  JOIN pg_catalog.pg_database db ON db.oid = d.dbid
 WHERE d.deptype = 'o' AND d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
   AND d.refobjid IN (SELECT jsonb_array_elements_text($1::text::jsonb)::oid)
UNION
SELECT db.datdba::int8, db.datname
  FROM pg_catalog.pg_database db
 WHERE db.datdba IN (SELECT jsonb_array_elements_text($1::text::jsonb)::oid)
