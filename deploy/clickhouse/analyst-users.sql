-- Read-only analysts on a ClickHouse server (production: CLICKHOUSE_URL=http://…/<db>).
-- The local endpoint's readonly users (ANALYTICS_HTTP_USERS, docs/analytics.md "Users and
-- access") follow the same rules: readonly = 1, with the few settings analysts' tools send
-- marked CHANGEABLE_IN_READONLY: Grafana's clickhouse-go sends max_execution_time with every
-- query (clickhouse-connect reads system.settings and sends no setting a readonly user cannot
-- change).
--
-- Run as an admin with access management, after replacing:
--   csms                   the database of CLICKHOUSE_URL (its path; `default` if none)
--   grafana / alice        the users, and their passwords' SHA-256 in hex:
--                          printf '%s' 'the password' | sha256sum
-- e.g. clickhouse-client --multiquery < deploy/clickhouse/analyst-users.sql
-- The CSMS's own writer (the user in CLICKHOUSE_URL) is not touched here.

CREATE SETTINGS PROFILE IF NOT EXISTS csms_analyst SETTINGS
    readonly = 1,
    max_execution_time = 60 CHANGEABLE_IN_READONLY,
    max_memory_usage = 4000000000,
    max_result_rows = 1000000,
    result_overflow_mode = 'throw';

CREATE ROLE IF NOT EXISTS csms_analyst SETTINGS PROFILE 'csms_analyst';
GRANT SELECT ON csms.* TO csms_analyst;
-- Tools list databases, tables and columns (SHOW DATABASES, system.tables, DESCRIBE).
GRANT SHOW DATABASES, SHOW TABLES, SHOW COLUMNS ON csms.* TO csms_analyst;

CREATE USER IF NOT EXISTS grafana
    IDENTIFIED WITH sha256_hash BY '<sha256 hex of the password>'
    SETTINGS PROFILE 'csms_analyst';
GRANT csms_analyst TO grafana;
ALTER USER grafana DEFAULT ROLE csms_analyst;

CREATE USER IF NOT EXISTS alice
    IDENTIFIED WITH sha256_hash BY '<sha256 hex of the password>'
    SETTINGS PROFILE 'csms_analyst';
GRANT csms_analyst TO alice;
ALTER USER alice DEFAULT ROLE csms_analyst;

-- Check: SHOW GRANTS FOR grafana; and, as grafana, `INSERT INTO csms.bills ...` answers
-- Code: 164 (READONLY) / 497 (ACCESS_DENIED).
