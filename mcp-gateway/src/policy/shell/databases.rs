//! Rules for database clients run from a shell (`psql -c`, `mysql -e`,
//! `sqlite3 db SQL`, `redis-cli flushall`, `mongosh --eval`...): the SQL
//! they are given is analysed as SQL.

use hitl_wire::Risk;

use super::super::sql;
use super::Context;
use super::lexer::Stdin;
use super::words::{Arg, has_word, operands, option_value, positionals, stdin_bodies};

impl Context<'_, '_> {
    /// The rules for a database client; `false` when `name` is not one.
    pub(super) fn database(&mut self, name: &str, args: &[Arg<'_>], stdin: &[Stdin<'_>]) -> bool {
        match name {
            "dropdb" | "dropuser" => self.add(Risk::Critical, "shell: drops a database"),
            "mysqladmin"
                if positionals(args, &["-u", "-p", "-h", "-P", "-S"])
                    .iter()
                    .any(|a| a.text == "drop") =>
            {
                self.add(Risk::Critical, "shell: drops a database");
            }
            "redis-cli" | "valkey-cli" | "keydb-cli"
                if (has_word(args, "flushall") || has_word(args, "flushdb")) =>
            {
                self.add(
                    Risk::Critical,
                    "shell: deletes every key in a Redis database",
                );
            }
            "mongo" | "mongosh" => {
                if let Some(js) = option_value(args, &[], &["--eval"])
                    && (js.contains("dropDatabase")
                        || js.contains(".drop(")
                        || js.contains("deleteMany({})"))
                {
                    self.add(
                        Risk::Critical,
                        "shell: drops a MongoDB database or collection",
                    );
                }
            }
            "psql" => {
                if let Some(q) = option_value(args, &["-c"], &["--command"]) {
                    sql::analyse(q, self.out);
                }
                for body in stdin_bodies(&self.heredocs, stdin) {
                    sql::analyse(body, self.out);
                }
            }
            "mysql" | "mariadb" => {
                if let Some(q) = option_value(args, &["-e"], &["--execute"]) {
                    sql::analyse(q, self.out);
                }
                for body in stdin_bodies(&self.heredocs, stdin) {
                    sql::analyse(body, self.out);
                }
            }
            "sqlite3" | "sqlite" | "duckdb" => {
                for q in operands(args).skip(1) {
                    sql::analyse(q.text, self.out);
                }
                for body in stdin_bodies(&self.heredocs, stdin) {
                    sql::analyse(body, self.out);
                }
            }
            "clickhouse-client" | "clickhouse" | "sqlcmd" | "snowsql" | "cqlsh" | "cockroach" => {
                if let Some(q) = option_value(args, &["-q", "-Q", "-e"], &["--query", "--execute"])
                {
                    sql::analyse(q, self.out);
                }
            }
            "bq" => {
                if positionals(args, &["--project_id", "--location"])
                    .first()
                    .is_some_and(|a| a.text == "query")
                    && let Some(q) = operands(args).last()
                {
                    sql::analyse(q.text, self.out);
                }
            }
            _ => return false,
        }
        true
    }
}
