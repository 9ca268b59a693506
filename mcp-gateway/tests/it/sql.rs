//! SQL is split into statements (respecting quotes, comments and
//! dollar-quoted bodies) and each statement is read: DROP, TRUNCATE, and
//! DELETE or UPDATE without a real WHERE are critical.

use hitl_wire::Risk::{Critical, High, Low, Medium};

use crate::support::{check_sql, check_table};

#[test]
fn destructive_statements_are_critical() {
    check_sql(&[
        ("DROP TABLE users", Critical),
        ("drop database prod", Critical),
        ("dRoP tAbLe x", Critical),
        ("DROP TABLE IF EXISTS x CASCADE", Critical),
        ("TRUNCATE users", Critical),
        ("TRUNCATE TABLE users RESTART IDENTITY", Critical),
        ("DELETE FROM t", Critical),
        ("delete from t", Critical),
        ("DELETE FROM t;", Critical),
        ("UPDATE users SET admin = true", Critical),
        ("ALTER TABLE t DROP COLUMN c", Critical),
        ("SHUTDOWN", Critical),
    ]);
}

#[test]
fn every_statement_is_looked_at() {
    check_sql(&[
        ("SELECT 1; DROP TABLE x", Critical),
        ("SELECT 1;DROP TABLE x;", Critical),
        ("SELECT * FROM t; delete from t -- done", Critical),
        ("BEGIN; UPDATE t SET x = 1; COMMIT;", Critical),
        ("SELECT 1;\n\n  ;;  SELECT 2", Low),
    ]);
}

#[test]
fn where_must_filter_at_the_statement_level() {
    check_sql(&[
        ("delete from t where id=1", Medium),
        ("DELETE FROM t WHERE id = 1", Medium),
        ("UPDATE t SET x = 1 WHERE id = 2", Medium),
        (
            "DELETE FROM t WHERE id IN (SELECT id FROM u WHERE old)",
            Medium,
        ),
        (
            "UPDATE t SET x = (SELECT max(y) FROM u WHERE z) WHERE id = 3",
            Medium,
        ),
        ("DELETE FROM t WHERE 1=1", Critical),
        ("DELETE FROM t WHERE 1 = 1", Critical),
        ("DELETE FROM t WHERE true", Critical),
        ("DELETE FROM t WHERE 1", Critical),
        ("update t set x=1 where 'a'='a'", Critical),
        ("UPDATE t SET x = (SELECT y FROM u WHERE z = 1)", Critical),
        ("DELETE FROM t USING (SELECT id FROM u WHERE x) s", Critical),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            Critical,
        ),
        (
            "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
            Medium,
        ),
        (
            "WITH old AS (SELECT id FROM t WHERE x) DELETE FROM t",
            Critical,
        ),
        ("DELETE FROM t WHERE 1=1 AND id = 5", Medium),
    ]);
}

#[test]
fn quotes_and_comments_are_respected() {
    check_sql(&[
        ("SELECT ';' AS x", Low),
        ("SELECT 'x; DROP TABLE y' AS note", Low),
        ("select * from users where name = 'x; DROP TABLE y'", Low),
        ("SELECT 'it''s; DROP TABLE y'", Low),
        ("SELECT \"delete\" FROM t", Low),
        ("SELECT `drop` FROM t", Low),
        ("SELECT ';' -- DROP TABLE x", Low),
        ("-- DROP TABLE x\nSELECT 1", Low),
        ("SELECT 1 /* DROP TABLE x; */", Low),
        ("SELECT 1 /* outer /* inner */ DROP TABLE x */", Low),
        ("SELECT $$; DROP TABLE x$$ IS NULL", Critical),
        ("SELECT E'\\'; DROP TABLE x; --'", Low),
    ]);
}

#[test]
fn dialect_ambiguities_take_the_stricter_reading() {
    check_sql(&[
        // MySQL reads \' as a quote; PostgreSQL ends the string there.
        ("SELECT 'a\\'; DROP TABLE x; --'", Critical),
        // MySQL runs the body of /*! ... */.
        ("SELECT 1 /*!50000 ; DROP TABLE x */", Critical),
        // `#` starts a comment only in MySQL.
        ("SELECT 1 # ; DROP TABLE x", Critical),
        // PostgreSQL runs DO blocks.
        ("DO $$ BEGIN DROP TABLE x; END $$", Critical),
        ("DO $body$ BEGIN DELETE FROM t; END $body$", Critical),
    ]);
}

#[test]
fn other_statements_rate_by_what_they_do() {
    check_sql(&[
        ("SELECT 1", Low),
        ("SHOW TABLES", Low),
        ("EXPLAIN SELECT * FROM t", Low),
        ("SELECT * FROM t FOR UPDATE", Low),
        ("PRAGMA table_info(t)", Low),
        ("INSERT INTO t VALUES (1)", Medium),
        (
            "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE x = 1",
            Medium,
        ),
        (
            "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET x = 1",
            Medium,
        ),
        ("PRAGMA journal_mode = WAL", Medium),
        ("VACUUM", Medium),
        // A procedure's effect cannot be seen from the call.
        ("CALL refresh()", High),
        ("FROBNICATE t", Medium),
        (
            "CREATE TABLE t (id int REFERENCES u ON DELETE CASCADE)",
            High,
        ),
        (
            "CREATE TRIGGER tr AFTER UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION f()",
            High,
        ),
        ("ALTER TABLE t ADD COLUMN c int", High),
        ("ALTER TABLE t ALTER COLUMN c DROP NOT NULL", High),
        ("GRANT SELECT, DELETE ON t TO bob", High),
        ("REVOKE UPDATE ON t FROM bob", High),
        ("SELECT * INTO OUTFILE '/tmp/x' FROM t", High),
        ("SELECT pg_read_file('/etc/passwd')", Critical),
        ("SELECT pg_read_file('/tmp/report.csv')", High),
        ("COPY t TO '/tmp/t.csv'", High),
        ("COPY t FROM STDIN", Medium),
        ("COPY t TO PROGRAM 'rm -rf /'", Critical),
        ("EXEC master..xp_cmdshell 'dir'", Critical),
    ]);
}

#[test]
fn sql_arguments_are_found_by_key_and_by_tool() {
    check_table(&[
        // A database tool is judged by its statements, not its name.
        ("execute_sql", r#"{"sql": "SELECT 1"}"#, Low),
        ("run_query", r#"{"query": "SELECT * FROM t"}"#, Low),
        ("run_query", r#"{"query": "DROP TABLE x"}"#, Critical),
        ("postgres_query", r#"{"statement": "TRUNCATE t"}"#, Critical),
        ("query", r#"{"sql": "delete from t"}"#, Critical),
        (
            "write_query",
            r#"{"query": "INSERT INTO t VALUES (1)"}"#,
            Medium,
        ),
        ("read_query", r#"{"query": "UPDATE t SET a = 1"}"#, Critical),
        // Elsewhere, `query` is SQL only when it reads as SQL.
        ("search", r#"{"query": "delete old files"}"#, Low),
        ("search", r#"{"query": "drop the lowest score"}"#, Low),
        ("search", r#"{"query": "DROP TABLE users"}"#, Critical),
        ("search", r#"{"query": "DELETE FROM users"}"#, Critical),
        ("query_logs", r#"{"query": "level:error"}"#, Low),
        (
            "create_table",
            r#"{"query": "CREATE TABLE t (id int)"}"#,
            High,
        ),
        // `sql` and `statements` keys are SQL whatever the tool.
        ("do_something", r#"{"sql": "DROP TABLE x"}"#, Critical),
        (
            "migrate",
            r#"{"statements": ["SELECT 1", "DROP TABLE x"]}"#,
            Critical,
        ),
    ]);
}
