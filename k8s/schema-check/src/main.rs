//! Reads a JSON array of Kubernetes objects on stdin and prints, as JSON, the problems of each
//! operator custom resource it knows: a type or a required field the operator's schema rejects,
//! or a field the schema does not have (the API server rejects those under strict validation).
//! Objects of other kinds are reported as `skipped`; the caller decides what that means.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::io::Read;

fn check<T: DeserializeOwned>(object: &Value) -> Vec<String> {
    let text = object.to_string();
    let mut unknown: Vec<String> = Vec::new();
    let mut de = serde_json::Deserializer::from_str(&text);
    let mut note = |path: serde_ignored::Path<'_>| {
        // Option layers show as "?" segments: drop them for a readable path.
        let path = path.to_string().replace(".?", "");
        // apiVersion and kind are checked by the dispatch below, not by the model.
        if path != "apiVersion" && path != "kind" {
            unknown.push(format!("unknown field: {path}"));
        }
    };
    let ignoring = serde_ignored::Deserializer::new(&mut de, &mut note);
    let result: Result<T, _> = serde_path_to_error::deserialize(ignoring);
    let mut problems = match result {
        Ok(_) => Vec::new(),
        Err(err) => vec![format!("{}: {}", err.path(), err.inner())],
    };
    problems.append(&mut unknown);
    problems
}

fn problems_of(object: &Value) -> Option<Vec<String>> {
    use kcr_clickhouse_altinity_com::v1::clickhouseinstallations::ClickHouseInstallation;
    use kcr_kafka_strimzi_io::v1::{kafkanodepools::KafkaNodePool, kafkas::Kafka, kafkatopics::KafkaTopic};
    use kcr_monitoring_coreos_com::v1::{podmonitors::PodMonitor, servicemonitors::ServiceMonitor};
    let api = object.get("apiVersion")?.as_str()?;
    let kind = object.get("kind")?.as_str()?;
    Some(match (api, kind) {
        ("kafka.strimzi.io/v1", "Kafka") => check::<Kafka>(object),
        ("kafka.strimzi.io/v1", "KafkaNodePool") => check::<KafkaNodePool>(object),
        ("kafka.strimzi.io/v1", "KafkaTopic") => check::<KafkaTopic>(object),
        ("clickhouse.altinity.com/v1", "ClickHouseInstallation") => {
            check::<ClickHouseInstallation>(object)
        }
        ("monitoring.coreos.com/v1", "ServiceMonitor") => check::<ServiceMonitor>(object),
        ("monitoring.coreos.com/v1", "PodMonitor") => check::<PodMonitor>(object),
        _ => return None,
    })
}

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let objects: Vec<Value> = serde_json::from_str(&input).expect("a JSON array of objects");
    let report: Vec<Value> = objects
        .iter()
        .map(|object| match problems_of(object) {
            Some(problems) => json!({"checked": true, "problems": problems}),
            None => json!({"checked": false, "problems": []}),
        })
        .collect();
    println!("{}", Value::Array(report));
}
