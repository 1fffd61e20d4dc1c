-- Steward's owner role on a PostgreSQL server, without superuser rights. Run once per server,
-- as a superuser: psql -v ON_ERROR_STOP=1 -h HOST -U postgres -f deploy/postgres/owner-role.sql
-- Then give the role a password (\password steward) and point STEWARD_PG_DSN at it.
--
-- The server must already load pgaudit and write a CSV log (postgresql.conf, then restart):
--   shared_preload_libraries = 'pgaudit'
--   logging_collector = on
--   log_destination = 'csvlog'

-- Makes the region databases, and a login role per consumer, which it may then become.
CREATE ROLE steward LOGIN CREATEDB CREATEROLE;

-- pgaudit's object auditing logs every statement touching a relation this role may read;
-- `steward grants apply` creates the role and grants it the governed relations.
ALTER SYSTEM SET pgaudit.role = 'steward_auditor';
SELECT pg_reload_conf();

-- `steward audit collect` reads the server's CSV log back, after checking that the server
-- loads pgaudit and writes that log.
GRANT pg_read_server_files, pg_read_all_settings TO steward;

-- Function rights live in each database: grant them in template1, which every database
-- Steward makes is copied from.
\connect template1
GRANT EXECUTE ON FUNCTION pg_current_logfile(text) TO steward;
GRANT EXECUTE ON FUNCTION pg_read_binary_file(text, bigint, bigint, boolean) TO steward;
