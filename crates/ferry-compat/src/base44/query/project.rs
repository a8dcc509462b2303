//! `fields`: the projection applied to records after the query.

use serde_json::{Map, Value};

/// Keeps `id` and the listed fields of a record (a JSON object); dotted names keep the nested
/// value at that path inside its parents (`meta.owner` gives `{"meta": {"owner": …}}`). Names
/// that are absent are skipped; a non-object record is returned as it is.
pub fn project(record: Value, fields: &[String]) -> Value {
    let Value::Object(source) = record else {
        return record;
    };
    let mut out = Map::new();
    if let Some(id) = source.get("id") {
        out.insert("id".to_string(), id.clone());
    }
    for field in fields {
        let segments: Vec<&str> = field.split('.').collect();
        if let Some(value) = lookup(&source, &segments) {
            insert(&mut out, &segments, value.clone());
        }
    }
    Value::Object(out)
}

fn lookup<'a>(map: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = map.get(*first)?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        Value::Object(inner) => lookup(inner, rest),
        _ => None,
    }
}

fn insert(map: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.insert((*first).to_string(), value);
        return;
    }
    let slot = map
        .entry((*first).to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(inner) = slot {
        insert(inner, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_id_and_listed_fields() {
        let record =
            json!({"id": "t1", "title": "a", "score": 2, "meta": {"owner": {"name": "x"}, "k": 1}});
        let fields = [
            "title".to_string(),
            "meta.owner.name".to_string(),
            "missing".to_string(),
        ];
        assert_eq!(
            project(record, &fields),
            json!({"id": "t1", "title": "a", "meta": {"owner": {"name": "x"}}})
        );
        let fields = ["meta".to_string(), "meta.k".to_string()];
        assert_eq!(
            project(json!({"id": 1, "meta": {"k": 1, "j": 2}}), &fields),
            json!({"id": 1, "meta": {"k": 1, "j": 2}})
        );
    }
}
