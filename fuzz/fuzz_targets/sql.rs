//! SQL migration reading never panics, and the schema it builds is well formed: every name is
//! non-empty and unique where PostgreSQL requires it, and every `at` is `<file>:<line>` with a
//! line inside the file that was applied.
#![no_main]
use std::collections::HashSet;

use ferry_inspect::sql::SqlSchema;

const FILES: [&str; 2] = ["m.sql", "n.sql"];

fn check_at(at: &str, lines: usize) {
    let (file, line) = at.rsplit_once(':').expect("file:line");
    assert!(FILES.contains(&file), "{at}");
    let line: usize = line.parse().expect("line number");
    assert!((1..=lines).contains(&line), "{at} outside 1..={lines}");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.matches('\n').count() + 1;
    let mut schema = SqlSchema::default();
    for file in FILES {
        schema.apply(file, text);
    }

    let mut tables = HashSet::new();
    for table in &schema.tables {
        assert!(!table.schema.is_empty() && !table.name.is_empty());
        assert!(
            tables.insert((&table.schema, &table.name)),
            "duplicate table"
        );
        assert_eq!(schema.table(&table.schema, &table.name), Some(table));
        check_at(&table.at, lines);
        let mut policies = HashSet::new();
        for policy in &table.policies {
            assert!(!policy.name.is_empty());
            assert!(policies.insert(&policy.name), "duplicate policy");
            assert!(policy.roles.iter().all(|r| !r.is_empty()));
            check_at(&policy.at, lines);
        }
    }
    let mut buckets = HashSet::new();
    for bucket in &schema.buckets {
        assert!(!bucket.name.is_empty());
        assert!(buckets.insert(&bucket.name), "duplicate bucket");
        check_at(&bucket.at, lines);
    }

    // Deterministic: the same text read into a fresh schema gives the same state.
    let mut again = SqlSchema::default();
    for file in FILES {
        again.apply(file, text);
    }
    assert_eq!(again, schema);
});
