use serde_json::Value;

use super::Suite;

pub fn suites() -> Vec<Suite> {
    Vec::new()
}

/// Placeholder until the schema engine lands.
pub fn check_configid_case(_case: &Value) -> Result<(), String> {
    Err("pve-configid format not implemented yet".into())
}
