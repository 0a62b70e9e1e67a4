//! `/nodes/{node}/tasks`: the task list, each task's index, status and log, and stop.

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Permissions, Router, RpcEnv};
use pve_common::schema::Schema;
use pve_common::tasks::{self, TaskError, TaskFilter, TaskSource};
use pve_common::upid::Upid;
use serde_json::{json, Value};

use super::nodes::node_param;

/// Task errors about the UPID are parameter errors on `upid`, as upstream answers.
fn upid_error(e: TaskError) -> ApiError {
    match e {
        TaskError::InvalidUpid | TaskError::NoSuchTask => {
            ApiError::parameter("upid", e.to_string())
        }
        TaskError::InvalidParameter(msg) => ApiError::parameter("_root", msg),
        other => ApiError::internal(format!("{other}\n")),
    }
}

fn parse_upid(text: &str) -> Result<Upid, ApiError> {
    text.parse::<Upid>()
        .map_err(|_| upid_error(TaskError::InvalidUpid))
}

/// The owner of a task (or its user, for the user's own tokens) may read it; anyone
/// else needs `priv` on `/nodes/<node>`.
fn check_task_access(env: &RpcEnv, upid: &Upid, privilege: &str) -> Result<(), ApiError> {
    if tasks::task_visible_to(&upid.user, &env.auth.full()) {
        return Ok(());
    }
    env.check_privs(&format!("/nodes/{}", upid.node), &[privilege], false)
}

fn list(env: &RpcEnv, p: &pve_common::api::Params) -> Result<ApiResponse, ApiError> {
    let node = p.required_str("node")?;
    let mut filter = TaskFilter {
        start: p.i64("start").unwrap_or(0).max(0) as u64,
        limit: p.i64("limit").unwrap_or(50).max(0) as u64,
        userfilter: p.str("userfilter"),
        typefilter: p.str("typefilter"),
        vmid: p.i64("vmid").and_then(|v| u32::try_from(v).ok()),
        errors: p.bool("errors").unwrap_or(false),
        source: match p.str("source") {
            Some(s) => s
                .parse::<TaskSource>()
                .map_err(|e| ApiError::parameter("source", e.to_string()))?,
            None => TaskSource::Archive,
        },
        since: p.i64("since"),
        until: p.i64("until"),
        statusfilter: p
            .str("statusfilter")
            .map(|s| TaskFilter::parse_status_list(&s)),
        visible_to: None,
    };
    if !env.has_privs(&format!("/nodes/{node}"), &["Sys.Audit"], false) {
        filter.visible_to = Some(env.auth.full());
    }
    let list = tasks::list_tasks(&env.paths, &filter);
    Ok(ApiResponse {
        data: serde_json::to_value(&list.data).map_err(|e| ApiError::internal(e.to_string()))?,
        total: Some(list.total),
        changes: None,
    })
}

fn list_method() -> ApiMethod {
    ApiMethod::new("node_tasks", HttpMethod::Get, "Read task list for one node (finished tasks).", |env, p| {
        list(env, &p)
    })
    .param("node", node_param())
    .param("errors", Schema::literal(pve_common::schema::json_lit(r#"{"default": 0, "description": "Only list tasks with a status of ERROR.", "optional": 1, "type": "boolean"}"#)))
    .param("limit", Schema::literal(pve_common::schema::json_lit(r#"{"default": 50, "description": "Only list this number of tasks.", "minimum": 0, "optional": 1, "type": "integer"}"#)))
    .param("since", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Only list tasks since this UNIX epoch.", "optional": 1, "type": "integer"}"#)))
    .param("source", Schema::literal(pve_common::schema::json_lit(r#"{"default": "archive", "description": "List archived, active or all tasks.", "enum": ["archive", "active", "all"], "optional": 1, "type": "string"}"#)))
    .param("start", Schema::literal(pve_common::schema::json_lit(r#"{"default": 0, "description": "List tasks beginning from this offset.", "minimum": 0, "optional": 1, "type": "integer"}"#)))
    .param("statusfilter", Schema::literal(pve_common::schema::json_lit(r#"{"description": "List of Task States that should be returned.", "format": "pve-task-status-type-list", "optional": 1, "type": "string"}"#)))
    .param("typefilter", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Only list tasks of this type (e.g., vzstart, vzdump).", "optional": 1, "type": "string"}"#)))
    .param("until", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Only list tasks until this UNIX epoch.", "optional": 1, "type": "integer"}"#)))
    .param("userfilter", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Only list tasks from this user.", "optional": 1, "type": "string"}"#)))
    .param("vmid", Schema::literal(json!({"description": "Only list tasks for this VM.", "format": "pve-vmid", "maximum": 999_999_999, "minimum": 100, "optional": 1, "type": "integer"})))
    .permissions(Permissions::all_users().with_description(
        "List task associated with the current user, or all task the user has 'Sys.Audit' permissions on /nodes/<node> (the <node> the task runs on).",
    ))
    .proxyto("node")
    .returns(Schema::literal(json!({
        "items": {"properties": {
            "endtime": {"optional": 1, "renderer": "timestamp", "title": "Endtime", "type": "integer"},
            "id": {"title": "ID", "type": "string"},
            "node": {"title": "Node", "type": "string"},
            "pid": {"title": "PID", "type": "integer"},
            "pstart": {"type": "integer"},
            "starttime": {"renderer": "timestamp", "title": "Starttime", "type": "integer"},
            "status": {"optional": 1, "title": "Status", "type": "string"},
            "type": {"title": "Type", "type": "string"},
            "upid": {"title": "UPID", "type": "string"},
            "user": {"title": "User", "type": "string"},
        }, "type": "object"},
        "links": [{"href": "{upid}", "rel": "child"}],
        "type": "array",
    })))
}

fn upid_param(described: bool) -> Schema {
    if described {
        Schema::literal(json!({"description": "The task's unique ID.", "type": "string"}))
    } else {
        Schema::literal(json!({"type": "string"}))
    }
}

fn task_router() -> Router {
    let index = ApiMethod::new("upid_index", HttpMethod::Get, "", |_, p| {
        parse_upid(&p.required_str("upid")?)?;
        Ok(json!([{"name": "log"}, {"name": "status"}]).into())
    })
    .param("node", node_param())
    .param("upid", upid_param(false))
    .permissions(Permissions::all_users())
    .returns(Schema::literal(json!({
        "items": {"properties": {}, "type": "object"},
        "links": [{"href": "{name}", "rel": "child"}],
        "type": "array",
    })));

    let stop = ApiMethod::new("stop_task", HttpMethod::Delete, "Stop a task.", |env, p| {
        let text = p.required_str("upid")?;
        let upid = parse_upid(&text)?;
        check_task_access(env, &upid, "Sys.Modify")?;
        tasks::stop_task(&env.paths, &text).map_err(upid_error)?;
        Ok(Value::Null.into())
    })
    .param("node", node_param())
    .param("upid", upid_param(false))
    .permissions(Permissions::all_users().with_description(
        "The user needs 'Sys.Modify' permissions on '/nodes/<node>' if they aren't the owner of the task.",
    ))
    .protected()
    .proxyto("node");

    let log = ApiMethod::new("read_task_log", HttpMethod::Get, "Read task log.", |env, p| {
        let text = p.required_str("upid")?;
        let upid = parse_upid(&text)?;
        check_task_access(env, &upid, "Sys.Audit")?;
        let start = p.i64("start").unwrap_or(0).max(0) as u64;
        let limit = p.i64("limit").unwrap_or(50).max(0) as u64;
        let (lines, total) = tasks::read_log(&env.paths, &text, start, limit).map_err(upid_error)?;
        Ok(ApiResponse {
            data: serde_json::to_value(lines).map_err(|e| ApiError::internal(e.to_string()))?,
            total: Some(total),
            changes: None,
        })
    })
    .param("node", node_param())
    .param("upid", upid_param(true))
    .param("download", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Whether the tasklog file should be downloaded. This parameter can't be used in conjunction with other parameters", "optional": 1, "type": "boolean"}"#)))
    .param("limit", Schema::literal(pve_common::schema::json_lit(r#"{"default": 50, "description": "The number of lines to read from the tasklog.", "minimum": 0, "optional": 1, "type": "integer"}"#)))
    .param("start", Schema::literal(pve_common::schema::json_lit(r#"{"default": 0, "description": "Start at this line when reading the tasklog", "minimum": 0, "optional": 1, "type": "integer"}"#)))
    .permissions(Permissions::all_users().with_description(
        "The user needs 'Sys.Audit' permissions on '/nodes/<node>' if they aren't the owner of the task.",
    ))
    .protected()
    .proxyto("node")
    .download_allowed()
    .returns(Schema::literal(json!({
        "items": {"properties": {
            "n": {"description": "Line number", "type": "integer"},
            "t": {"description": "Line text", "type": "string"},
        }, "type": "object"},
        "type": "array",
    })));

    let status = ApiMethod::new("read_task_status", HttpMethod::Get, "Read task status.", |env, p| {
        let text = p.required_str("upid")?;
        let upid = parse_upid(&text)?;
        check_task_access(env, &upid, "Sys.Audit")?;
        let st = tasks::task_status(&env.paths, &text).map_err(upid_error)?;
        Ok(serde_json::to_value(st).map_err(|e| ApiError::internal(e.to_string()))?.into())
    })
    .param("node", node_param())
    .param("upid", upid_param(true))
    .permissions(Permissions::all_users().with_description(
        "The user needs 'Sys.Audit' permissions on '/nodes/<node>' if they are not the owner of the task.",
    ))
    .protected()
    .proxyto("node")
    .returns(Schema::literal(json!({
        "properties": {
            "exitstatus": {"optional": 1, "type": "string"},
            "id": {"type": "string"},
            "node": {"type": "string"},
            "pid": {"type": "integer"},
            "pstart": {"type": "integer"},
            "starttime": {"type": "integer"},
            "status": {"enum": ["running", "stopped"], "type": "string"},
            "type": {"type": "string"},
            "upid": {"type": "string"},
            "user": {"type": "string"},
        },
        "type": "object",
    })));

    Router::new()
        .method(index)
        .method(stop)
        .subdir("log", Router::new().method(log))
        .subdir("status", Router::new().method(status))
}

pub fn router() -> Router {
    Router::new()
        .method(list_method())
        .match_param("upid", task_router())
}
