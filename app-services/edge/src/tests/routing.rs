//! The router, the route table and the OpenAPI document agree; unknown routes and methods
//! are problems.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use serde_json::Value;

use super::{World, bare, send};
use crate::openapi;
use crate::openapi::{OPERATIONS, path_params};
use crate::routes::{Guard, route_set, routes};

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let router = World::new().router();
    for path in ["/", "/v1/nope", "/v1/workspaces/a/b/c/d", "/v2/me"] {
        let reply = send(&router, bare(Method::GET, path)).await;
        reply.problem(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_naming_the_allowed_ones() {
    let router = World::new().router();
    let reply = send(&router, bare(Method::PUT, "/v1/me")).await;
    reply.problem(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    let allow = reply.header("allow").expect("an Allow header");
    for method in ["GET", "PATCH", "DELETE"] {
        assert!(allow.contains(method), "{allow}");
    }

    let reply = send(&router, bare(Method::GET, "/v1/auth/login")).await;
    reply.problem(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
}

#[test]
fn every_route_is_listed_once() {
    let all = routes();
    assert_eq!(all.len(), route_set().len());
    assert!(all.iter().all(|route| route.path.starts_with('/')));
}

#[tokio::test]
async fn every_route_of_the_table_is_routed() {
    // Without a token or a body, a routed path answers by its guard or its body rules, never
    // ROUTE_NOT_FOUND or METHOD_NOT_ALLOWED.
    let router = World::new().router();
    for route in routes() {
        let path = route
            .path
            .replace("{workspace_id}", "0190a5b4-0000-7000-8000-000000000001")
            .replace("{user_id}", "0190a5b4-0000-7000-8000-000000000002")
            .replace("{invitation_id}", "0190a5b4-0000-7000-8000-000000000003");
        let reply = send(&router, bare(route.method.clone(), &path)).await;
        let expected = match route.guard {
            Guard::User | Guard::UserOrTicket | Guard::Workspace(_) => StatusCode::UNAUTHORIZED,
            Guard::Open if route.method == Method::GET => StatusCode::OK,
            // Every open command takes a JSON body.
            Guard::Open | Guard::Credentials => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        assert_eq!(reply.status, expected, "{} {}", route.method, route.path);
    }
}

/// `(METHOD, path)` of every operation in the document.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut set = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            set.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    set
}

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    assert_eq!(documented(&openapi()), route_set());
}

#[test]
fn the_openapi_document_states_who_may_call_each_route() {
    let document = openapi();
    for route in routes() {
        let operation = &document["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        let security = operation["security"].as_array().expect("security");
        assert_eq!(
            !security.is_empty(),
            route.guard.needs_token(),
            "{} {}",
            route.method,
            route.path
        );
        let least = match route.guard {
            Guard::Workspace(team_app::Role::Member) => Some("member"),
            Guard::Workspace(team_app::Role::Admin) => Some("admin"),
            Guard::Workspace(team_app::Role::Owner) => Some("owner"),
            _ => None,
        };
        assert_eq!(
            operation["x-least-role"].as_str(),
            least,
            "{} {}",
            route.method,
            route.path
        );
        assert_eq!(
            operation["x-rate-limit"].as_str() == Some("auth_per_ip"),
            route.guard == Guard::Credentials,
            "{} {}",
            route.method,
            route.path
        );
    }
}

#[test]
fn every_path_parameter_is_declared() {
    let document = openapi();
    for operation in OPERATIONS {
        let declared: Vec<&str> = document["paths"][operation.path][operation.method]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(declared, path_params(operation.path), "{}", operation.path);
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                if key == "$ref" {
                    if let Some(target) = inner.as_str() {
                        found.push(target);
                    }
                } else {
                    refs(inner, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_parses_and_every_ref_resolves() {
    let text = serde_json::to_string(&openapi()).expect("serialisable");
    let document: Value = serde_json::from_str(&text).expect("parses");
    assert_eq!(document["openapi"], "3.1.0");
    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(found.len() > 50, "the document uses shared components");
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(
            document.pointer(pointer).is_some(),
            "{target} does not resolve"
        );
    }
    for shared in [
        "User",
        "Workspace",
        "Member",
        "Invitation",
        "Subscription",
        "Tokens",
        "Problem",
    ] {
        assert!(
            document["components"]["schemas"][shared].is_object(),
            "{shared}"
        );
    }
}

#[test]
fn every_required_field_of_a_schema_is_one_of_its_properties() {
    let document = openapi();
    for (name, schema) in document["components"]["schemas"]
        .as_object()
        .expect("schemas")
    {
        let Some(required) = schema["required"].as_array() else {
            continue;
        };
        for field in required {
            let field = field.as_str().expect("a name");
            assert!(
                schema["properties"][field].is_object(),
                "{name}.{field} is required but not a property"
            );
        }
    }
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let router = World::new().router();
    let reply = send(&router, bare(Method::GET, "/openapi.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), openapi());
}
