//! A small structural JSON diff that names each difference by JSON pointer.

use serde_json::Value;

/// Differences between `left` (derived) and `right` (hand-written), sorted.
pub fn diff(left: &Value, right: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", left, right, &mut out);
    out.sort();
    out
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(path: &str, left: &Value, right: &Value, out: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            for (k, lv) in l {
                let p = format!("{path}/{}", escape(k));
                match r.get(k) {
                    Some(rv) => walk(&p, lv, rv, out),
                    None => out.push(format!("only in derived:      {p} = {lv}")),
                }
            }
            for (k, rv) in r {
                if !l.contains_key(k) {
                    out.push(format!("only in hand-written: {path}/{} = {rv}", escape(k)));
                }
            }
        }
        (Value::Array(l), Value::Array(r)) if l.len() == r.len() => {
            for (i, (lv, rv)) in l.iter().zip(r).enumerate() {
                walk(&format!("{path}/{i}"), lv, rv, out);
            }
        }
        _ if left == right => {}
        _ => out.push(format!(
            "differs: {path}: derived={left} hand-written={right}"
        )),
    }
}

/// Removes every object key in `keys`, at any depth.
pub fn strip_keys(value: &mut Value, keys: &[&str]) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !keys.contains(&k.as_str()));
            map.values_mut().for_each(|v| strip_keys(v, keys));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip_keys(v, keys)),
        _ => {}
    }
}
