-- A change signature of this database's large objects, readable by any role and costing a few
-- catalog look-ups whatever the number of objects: the files of pg_largeobject (data) and
-- pg_largeobject_metadata (owners) and their statistics counters. A new or grown object extends
-- the file at once (before its commit); a write into free space, an overwrite, lo_unlink or
-- ALTER LARGE OBJECT ... OWNER TO moves the counters when the writing backend reports them
-- (PostgreSQL 15+: within about a second of its commit, at most 10 s under contention).
SELECT pg_catalog.string_agg(pg_catalog.concat_ws(':',
         pg_catalog.pg_relation_filenode(c.oid),
         pg_catalog.pg_relation_size(c.oid),
         pg_catalog.pg_stat_get_tuples_inserted(c.oid),
         pg_catalog.pg_stat_get_tuples_updated(c.oid),
         pg_catalog.pg_stat_get_tuples_deleted(c.oid)), ' ' ORDER BY c.oid) AS sig
  FROM pg_catalog.pg_class c
 WHERE c.oid IN ('pg_catalog.pg_largeobject'::pg_catalog.regclass,
                 'pg_catalog.pg_largeobject_metadata'::pg_catalog.regclass)
