//! The router, the route table and the OpenAPI document agree; unknown routes and methods
//! are problems.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use serde_json::Value;

use super::{World, bare, send};
use crate::openapi;
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

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    assert_eq!(documented(&openapi()), route_set());
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
fn the_openapi_document_states_who_may_call_each_route() {
    let document = openapi();
    for route in routes() {
        let operation = &document["paths"][&route.path][route.method.as_str().to_ascii_lowercase()];
        let security = operation["security"].as_array().expect("security");
        assert_eq!(
            !security.is_empty(),
            route.guard.needs_token(),
            "{} {}",
            route.method,
            route.path
        );
        let least = match route.guard {
            Guard::Workspace(ports_app::Role::Member) => Some("member"),
            Guard::Workspace(ports_app::Role::Admin) => Some("admin"),
            Guard::Workspace(ports_app::Role::Owner) => Some("owner"),
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
        let guard = match route.guard {
            Guard::Open => "open",
            Guard::Credentials => "credentials",
            Guard::User => "user",
            Guard::UserOrTicket => "user-or-ticket",
            Guard::Workspace(_) => "workspace",
        };
        assert_eq!(
            operation["x-saas-guard"], guard,
            "{} {}",
            route.method, route.path
        );
        if route.guard.needs_token() {
            assert!(operation["responses"]["401"].is_object(), "{}", route.path);
        }
    }
}

/// The `{name}`s of a path template, in order.
fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

#[test]
fn every_path_parameter_is_declared_as_a_uuid() {
    let document = openapi();
    for route in routes() {
        let lower = route.method.as_str().to_ascii_lowercase();
        let parameters = document["paths"][&route.path][&lower]["parameters"]
            .as_array()
            .expect("parameters");
        let declared: Vec<&str> = parameters
            .iter()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(declared, path_params(&route.path), "{}", route.path);
        for parameter in parameters.iter().filter(|p| p["in"] == "path") {
            assert_eq!(parameter["schema"]["format"], "uuid", "{}", route.path);
        }
    }
}

#[test]
fn every_operation_describes_its_problems_with_the_problem_schema() {
    let document = openapi();
    for route in routes() {
        let lower = route.method.as_str().to_ascii_lowercase();
        let responses = document["paths"][&route.path][&lower]["responses"]
            .as_object()
            .expect("responses");
        for status in ["400", "429", "500", "503", "504"] {
            let problem = &responses[status]["content"]["application/problem+json"]["schema"];
            assert_eq!(
                problem["$ref"], "#/components/schemas/Problem",
                "{} {} {status}",
                route.method, route.path
            );
        }
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{} {} has no success answer",
            route.method,
            route.path
        );
    }
}

#[test]
fn the_validation_constraints_are_in_the_document() {
    let document = openapi();
    let schemas = &document["components"]["schemas"];
    let sign_up = &schemas["SignUpRequest"]["properties"];
    assert_eq!(sign_up["email"]["maxLength"], 254);
    assert_eq!(sign_up["email"]["format"], "email");
    assert_eq!(sign_up["password"]["minLength"], 12);
    assert_eq!(sign_up["password"]["maxLength"], 128);
    assert!(sign_up["workspace_slug"]["pattern"].is_string());
    assert!(sign_up["display_name"]["pattern"].is_string());
    assert_eq!(
        schemas["ChangeSeatsRequest"]["properties"]["seats"]["minimum"],
        1
    );
    let feed = &document["paths"]["/v1/me/feed"]["get"]["parameters"];
    let page_size = feed
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "page_size")
        .expect("page_size");
    assert_eq!(page_size["schema"]["maximum"], 1000);
    assert_eq!(page_size["schema"]["minimum"], 0);
}

#[test]
fn operations_that_return_ids_link_to_those_that_take_them() {
    let document = openapi();
    let links = &document["paths"]["/v1/signup"]["post"]["responses"]["201"]["links"];
    assert_eq!(links["GetWorkspace"]["operationId"], "getWorkspace");
    let ids: BTreeSet<&str> = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("a path item").values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let mut count = 0;
    for item in document["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("a path item").values() {
            for response in operation["responses"]
                .as_object()
                .expect("responses")
                .values()
            {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|l| l.values())
                {
                    let target = link["operationId"].as_str().expect("an operationId");
                    assert!(ids.contains(target), "a link to an unknown {target}");
                    count += 1;
                }
            }
        }
    }
    assert!(count >= 10, "{count} links");
}

/// The patterns of the document accept what the domain accepts: text trimmed, then 1 to
/// 100 characters without control characters; a slug trimmed, then 3 to 40 of `a-z`, `0-9`
/// and `-` (any case) not starting or ending with `-`.
#[test]
fn the_text_patterns_accept_exactly_what_the_domain_accepts() {
    let document = openapi();
    let properties = &document["components"]["schemas"]["SignUpRequest"]["properties"];
    let pattern = |name: &str| {
        regex::Regex::new(properties[name]["pattern"].as_str().expect("a pattern"))
            .expect("a valid pattern")
    };
    let text = pattern("display_name");
    let long = "x".repeat(100);
    let too_long = "x".repeat(101);
    let padded = format!("  {long}\t");
    for (value, valid) in [
        ("Ada", true),
        ("A", true),
        ("Ada Lovelace", true),
        ("  Ada  ", true),
        ("\tAda\n", true),
        (long.as_str(), true),
        (padded.as_str(), true),
        ("", false),
        ("   ", false),
        (too_long.as_str(), false),
        ("Ada\tLovelace", false),
        ("Ada\u{7f}", false),
        ("Ada\u{85}x", false),
    ] {
        assert_eq!(text.is_match(value), valid, "display name {value:?}");
    }
    let slug = pattern("workspace_slug");
    let slug_long = "a".repeat(40);
    let slug_too_long = "a".repeat(41);
    for (value, valid) in [
        ("acme", true),
        ("a-1", true),
        ("ACME", true),
        (" acme ", true),
        (slug_long.as_str(), true),
        ("ab", false),
        ("-acme", false),
        ("acme-", false),
        ("ac_me", false),
        ("ac me", false),
        (slug_too_long.as_str(), false),
    ] {
        assert_eq!(slug.is_match(value), valid, "slug {value:?}");
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

/// Decodes `example` as the body type behind the request schema `name`.
fn decodes_as(name: &str, example: &Value) -> Result<(), String> {
    use crate::handlers::{account, auth, billing, feed, workspaces};
    fn check<T: serde::de::DeserializeOwned>(example: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(example.clone())
            .map(drop)
            .map_err(|error| error.to_string())
    }
    match name {
        "SignUpRequest" => check::<auth::SignUpBody>(example),
        "LoginRequest" => check::<auth::LoginBody>(example),
        "RefreshRequest" => check::<auth::RefreshBody>(example),
        "ChangeDisplayNameRequest" => check::<account::ChangeDisplayNameBody>(example),
        "ChangePasswordRequest" => check::<account::ChangePasswordBody>(example),
        "TokenRequest" => check::<account::TokenBody>(example),
        "PasswordResetRequest" => check::<account::PasswordResetBody>(example),
        "CompletePasswordResetRequest" => check::<account::CompletePasswordResetBody>(example),
        "ChangePlanRequest" => check::<billing::ChangePlanBody>(example),
        "ChangeSeatsRequest" => check::<billing::ChangeSeatsBody>(example),
        "CancelRequest" => check::<billing::CancelBody>(example),
        "MarkFeedReadRequest" => check::<feed::MarkReadBody>(example),
        "RenameWorkspaceRequest" => check::<workspaces::RenameBody>(example),
        "ChangeRoleRequest" => check::<workspaces::ChangeRoleBody>(example),
        "InviteRequest" => check::<workspaces::InviteBody>(example),
        other => Err(format!("no body type known for {other}")),
    }
}

#[test]
fn every_request_body_has_an_example_its_handler_decodes() {
    let document = openapi();
    let schemas = &document["components"]["schemas"];
    let mut names = BTreeSet::new();
    for item in document["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("path item").values() {
            let body = &operation["requestBody"]["content"]["application/json"]["schema"]["$ref"];
            if let Some(reference) = body.as_str() {
                names.insert(
                    reference
                        .trim_start_matches("#/components/schemas/")
                        .to_owned(),
                );
            }
        }
    }
    assert!(names.len() >= 15, "request bodies found: {names:?}");
    for name in names {
        let schema = &schemas[name.as_str()];
        let examples = schema["examples"].as_array().cloned().unwrap_or_default();
        assert!(!examples.is_empty(), "{name} has no example");
        let properties: BTreeSet<&String> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        for example in &examples {
            let keys: BTreeSet<&String> = example.as_object().expect("an object").keys().collect();
            assert_eq!(
                keys, properties,
                "{name}: the example's fields are the schema's"
            );
            if let Err(error) = decodes_as(&name, example) {
                panic!("{name}: {example} does not decode: {error}");
            }
        }
    }
}
