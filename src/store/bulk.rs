//! Helpers for multi-row statements written as SQL text.
//!
//! diesel's query builder cannot put a `WHERE` on an `ON CONFLICT` target for SQLite, which
//! the partial unique index on `sync_jobs` needs, and its batch inserts bind every value of
//! every row. The bulk writes therefore build their SQL as text with numbered placeholders
//! and split their rows into statements that stay under the bind-parameter limit.

use std::fmt::Write;

use super::Backend;

/// Maximum bind parameters in one statement: SQLite's default limit since 3.32.0.
/// PostgreSQL allows 65,535, so statements sized for SQLite fit both.
pub(crate) const MAX_BIND_PARAMS: usize = 32_766;

/// Returns how many rows of `binds_per_row` parameters fit in one statement that also binds
/// `shared_binds` parameters once.
pub(crate) fn rows_per_statement(binds_per_row: usize, shared_binds: usize) -> usize {
    (MAX_BIND_PARAMS.saturating_sub(shared_binds) / binds_per_row.max(1)).max(1)
}

/// Returns the placeholder of the 1-based bind parameter `index`: `$n` on PostgreSQL and
/// `?n` on SQLite. Both backends accept a number more than once in one statement.
pub(crate) fn placeholder(backend: Backend, index: usize) -> String {
    match backend {
        Backend::Postgres => format!("${index}"),
        Backend::Sqlite => format!("?{index}"),
    }
}

/// Appends `count` consecutive placeholders starting at `first`, separated by commas.
pub(crate) fn push_placeholders(sql: &mut String, backend: Backend, first: usize, count: usize) {
    let marker = match backend {
        Backend::Postgres => '$',
        Backend::Sqlite => '?',
    };
    for index in first..first + count {
        if index > first {
            sql.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(sql, "{marker}{index}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_statement_respects_limit() {
        let rows = rows_per_statement(8, 1);

        let binds = rows * 8 + 1;
        assert_eq!(rows, 4095);
        assert!(binds <= MAX_BIND_PARAMS, "{binds} binds");
        assert!(binds + 8 > MAX_BIND_PARAMS, "room for one more row");
    }

    #[test]
    fn placeholders_follow_backend_syntax() {
        let mut postgres = String::new();
        let mut sqlite = String::new();

        push_placeholders(&mut postgres, Backend::Postgres, 2, 3);
        push_placeholders(&mut sqlite, Backend::Sqlite, 2, 3);

        assert_eq!(postgres, "$2, $3, $4");
        assert_eq!(sqlite, "?2, ?3, ?4");
        assert_eq!(placeholder(Backend::Postgres, 1), "$1");
        assert_eq!(placeholder(Backend::Sqlite, 1), "?1");
    }
}
