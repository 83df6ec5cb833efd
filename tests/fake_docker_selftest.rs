//! Tests of the fake Docker engine itself (tests/support/fake_docker.rs),
//! driven by bollard directly: it must look like dockerd to the client the
//! library uses, and each injected fault must reach the client as intended.

#[path = "support/fake_docker.rs"]
mod fake_docker;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::{Docker, API_DEFAULT_VERSION};
use fake_docker::{Behavior, Endpoint, FakeContainer, FakeDocker, EVENT_RING};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::time::timeout;

const SHORT: Duration = Duration::from_secs(5);

fn client(fake: &FakeDocker) -> Docker {
    client_with_timeout(fake, 5)
}

fn client_with_timeout(fake: &FakeDocker, secs: u64) -> Docker {
    Docker::connect_with_unix(fake.socket().to_str().unwrap(), secs, API_DEFAULT_VERSION).expect("connect")
}

/// The filters the library subscribes with.
fn lifecycle_filters() -> HashMap<String, Vec<String>> {
    HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("event".to_string(), ["start", "die", "pause", "unpause", "rename"].map(String::from).to_vec()),
    ])
}

fn alive_filter() -> HashMap<String, Vec<String>> {
    HashMap::from([("status".to_string(), vec!["running".to_string(), "paused".to_string()])])
}

fn since_arg(unix_nanos: i128) -> String {
    format!("{}.{:09}", unix_nanos.div_euclid(1_000_000_000), unix_nanos.rem_euclid(1_000_000_000))
}

type Events = BoxStream<'static, Result<EventMessage, BollardError>>;

/// Subscribes like the library and waits until the fake has the subscription.
async fn subscribe(fake: &FakeDocker, docker: &Docker, since: Option<String>, streams_before: usize) -> Events {
    let opts = EventsOptions { since, until: None, filters: Some(lifecycle_filters()) };
    let mut stream = docker.events(Some(opts)).boxed();
    // The request goes out when the stream is polled: poll it (keeping what
    // it already brings, e.g. replays) until the fake has the subscription.
    let mut early = Vec::new();
    let end = Instant::now() + SHORT;
    while fake.event_streams() <= streams_before {
        assert!(Instant::now() < end, "the fake never saw the subscription");
        if let Ok(Some(item)) = timeout(Duration::from_millis(5), stream.next()).await {
            early.push(item);
        }
    }
    futures_util::stream::iter(early).chain(stream).boxed()
}

/// Waits (without blocking the runtime) until exactly `n` event streams are open.
async fn until_streams(fake: &FakeDocker, n: usize) {
    let end = Instant::now() + SHORT;
    while fake.event_streams() != n {
        assert!(Instant::now() < end, "{} event streams open, not {n}", fake.event_streams());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn next_event(events: &mut Events) -> EventMessage {
    timeout(SHORT, events.next()).await.expect("an event in time").expect("the stream goes on").expect("a valid event")
}

fn attr<'a>(ev: &'a EventMessage, key: &str) -> Option<&'a str> {
    ev.actor.as_ref()?.attributes.as_ref()?.get(key).map(String::as_str)
}

fn actor_id(ev: &EventMessage) -> &str {
    ev.actor.as_ref().and_then(|a| a.id.as_deref()).unwrap_or_default()
}

#[tokio::test]
async fn negotiates_the_version_and_reports_info_and_ping() {
    let fake = FakeDocker::start();
    assert!(fake.endpoint().starts_with("unix:///") && fake.endpoint().ends_with(".sock"));
    let docker = client(&fake).negotiate_version().await.expect("negotiate_version");
    let v = docker.client_version();
    assert_eq!((v.major_version, v.minor_version), (1, 41), "downgraded to the fake's API version");
    // bollard 0.21 sends unversioned paths (its `Url::join` drops the
    // `/vX.Y` it prepends), before and after negotiating.
    assert_eq!(fake.last_target(Endpoint::Version).as_deref(), Some("/version"));

    let version = docker.version().await.expect("version");
    assert_eq!(version.api_version.as_deref(), Some("1.41"));
    assert_eq!(version.min_api_version.as_deref(), Some("1.12"));
    assert_eq!(version.version.as_deref(), Some(fake_docker::SERVER_VERSION));

    let before = fake.now_nanos();
    let info = docker.info().await.expect("info");
    let after = fake.now_nanos();
    assert_eq!(fake.last_target(Endpoint::Info).as_deref(), Some("/info"));
    assert_eq!(info.id.as_deref(), Some(fake.engine_id()));
    assert_eq!(info.server_version.as_deref(), Some("fake-20.10"));
    let system_time = info.system_time.expect("SystemTime");
    assert!(system_time.ends_with('Z'), "{system_time}");
    let t = fake_docker::parse_rfc3339_nano(&system_time).expect("RFC3339Nano");
    assert!(before < t && t < after, "{before} < {t} < {after}");
    assert_eq!(fake_docker::rfc3339_nano(t), system_time);
    assert_eq!(fake_docker::rfc3339_nano(1_795_692_033_120_000_000), "2026-11-26T11:20:33.12Z");
    assert_eq!(fake_docker::rfc3339_nano(0), "1970-01-01T00:00:00Z");

    assert_eq!(docker.ping().await.expect("ping"), "OK");
    // Unknown routes: 404 like dockerd.
    match docker.inspect_image("busybox").await {
        Err(BollardError::DockerResponseServerError { status_code: 404, message }) => {
            assert_eq!(message, "page not found")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests(Endpoint::Other), 1);
}

/// One request by hand; the whole reply (the fake closes after it).
fn raw(fake: &FakeDocker, request: &str, wait_for: Option<&[u8]>) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(fake.socket()).unwrap();
    s.set_read_timeout(Some(SHORT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}; so far: {}", String::from_utf8_lossy(&got)),
        }
        if wait_for.is_some_and(|w| got.windows(w.len()).any(|x| x == w)) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn speaks_http_1_1_with_or_without_a_version_prefix() {
    let fake = FakeDocker::start();
    let id = fake.add(FakeContainer::new("web"));
    let reply = raw(&fake, "GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\n\r\n", None);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\r\nApi-Version: 1.41\r\n") && reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert!(reply.ends_with("\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"), "{reply}");
    let reply = raw(&fake, "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", None);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n") && reply.ends_with("\r\n\r\n"), "no body: {reply}");

    for prefix in ["", "/v1.24", "/v1.53"] {
        let reply = raw(&fake, &format!("GET {prefix}/containers/{id}/json HTTP/1.1\r\nHost: docker\r\n\r\n"), None);
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{prefix}: {reply}");
        assert!(reply.contains(&format!("\"Id\":\"{id}\"")), "{reply}");
    }
    assert_eq!(fake.requests(Endpoint::Inspect), 3);
    // Not a version: not stripped.
    let reply = raw(&fake, "GET /vx.1/info HTTP/1.1\r\nHost: docker\r\n\r\n", None);
    assert!(reply.starts_with("HTTP/1.1 404 Not Found\r\n"), "{reply}");
    // A body is read and ignored.
    let reply = raw(&fake, "POST /v1.41/containers/create HTTP/1.1\r\nContent-Length: 4\r\n\r\n{}{}", None);
    assert!(
        reply.starts_with("HTTP/1.1 404 Not Found\r\n") && reply.ends_with("{\"message\":\"page not found\"}\n"),
        "{reply}"
    );

    // Query strings are URL-decoded ('+' and %XX alike).
    let q = "filters=%7B%22status%22%3A%5B%22running%22%5D%2C%22name%22%3A%5B%22we%22%5D%7D&all=1&x=a+b%2Bc";
    let reply = raw(&fake, &format!("GET /v1.41/containers/json?{q} HTTP/1.1\r\n\r\n"), None);
    assert!(reply.contains(&format!("\"Id\":\"{id}\"")), "{reply}");
    let query = fake.last_query(Endpoint::List).unwrap();
    assert_eq!(query[0], ("filters".to_string(), r#"{"status":["running"],"name":["we"]}"#.to_string()));
    assert_eq!(query[2], ("x".to_string(), "a b+c".to_string()));

    // Truncated: more announced than sent.
    fake.set(Endpoint::Info, Behavior::Truncated);
    let reply = raw(&fake, "GET /info HTTP/1.1\r\n\r\n", None);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    let announced: usize =
        head.split("\r\n").find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
    assert!(body.len() < announced && !body.is_empty(), "{} < {announced}", body.len());

    // Events: chunked JSON, one object per chunk, the stream kept open.
    let reply = raw(&fake, "GET /v1.41/events?since=0 HTTP/1.1\r\n\r\n", Some(b"\r\n\r\n"));
    assert!(reply.contains("\r\nContent-Type: application/json\r\n"), "{reply}");
    assert!(reply.contains("\r\nTransfer-Encoding: chunked\r\n"), "{reply}");
    assert!(!reply.contains("Content-Length"), "{reply}");
    fake.emit("start", &id, &[("name", "web")]);
    fake.emit("die", &id, &[("name", "web")]);
    let reply = raw(&fake, "GET /events?since=0 HTTP/1.1\r\n\r\n", Some(b"\"die\""));
    let body = reply.split_once("\r\n\r\n").unwrap().1;
    let mut chunks = Vec::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size, 16).unwrap();
        if tail.len() < n + 2 {
            break;
        }
        chunks.push(&tail[..n]);
        assert_eq!(&tail[n..n + 2], "\r\n");
        rest = &tail[n + 2..];
    }
    assert_eq!(chunks.len(), 2, "{body:?}");
    for c in &chunks {
        assert!(c.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(c).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Actor"]["ID"], id.as_str());
        assert!(v["timeNano"].as_i64().unwrap() > 0);
    }
}

#[tokio::test]
async fn lists_alive_containers_with_the_status_filter() {
    let fake = FakeDocker::start();
    let web = fake.add(FakeContainer::new("web").with_label("com.docker.compose.project", "shop").with_label("a", "1"));
    let paused = fake.add(FakeContainer::new("sleepy").with_paused(true));
    let exited = fake.add(FakeContainer::new("gone").stopped());
    let docker = client(&fake);

    let opts = ListContainersOptions { all: true, filters: Some(alive_filter()), ..Default::default() };
    let listed = docker.list_containers(Some(opts)).await.expect("list");
    let ids: Vec<&str> = listed.iter().filter_map(|s| s.id.as_deref()).collect();
    assert_eq!(ids, [paused.as_str(), web.as_str()], "alive ones, newest first");
    let w = &listed[1];
    assert_eq!(w.names.as_deref(), Some(&["/web".to_string()][..]));
    assert_eq!(w.labels.as_ref().unwrap().get("com.docker.compose.project").map(String::as_str), Some("shop"));
    assert_eq!(w.state, Some(bollard::models::ContainerSummaryStateEnum::RUNNING));
    assert_eq!(listed[0].state, Some(bollard::models::ContainerSummaryStateEnum::PAUSED));
    let query = fake.last_query(Endpoint::List).unwrap();
    assert!(query.contains(&("all".into(), "true".into())), "{query:?}");
    let filters = query.iter().find(|(k, _)| k == "filters").map(|(_, v)| v.clone()).expect("filters sent");
    let parsed: HashMap<String, Vec<String>> = serde_json::from_str(&filters).unwrap();
    assert_eq!(parsed, alive_filter());

    // Without `all`: running ones (paused included, as dockerd); with: all.
    assert_eq!(docker.list_containers(None::<ListContainersOptions>).await.unwrap().len(), 2);
    let all = ListContainersOptions { all: true, ..Default::default() };
    let everything = docker.list_containers(Some(all)).await.unwrap();
    assert_eq!(everything.len(), 3);
    assert!(everything.iter().any(|s| s.id.as_deref() == Some(exited.as_str())));
    // A filter dockerd does not know: 400.
    let bogus = ListContainersOptions {
        filters: Some(HashMap::from([("colour".to_string(), vec!["blue".to_string()])])),
        ..Default::default()
    };
    match docker.list_containers(Some(bogus)).await {
        Err(BollardError::DockerResponseServerError { status_code: 400, message }) => {
            assert_eq!(message, "invalid filter 'colour'")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn inspects_known_and_unknown_containers_like_docker() {
    let fake = FakeDocker::start();
    let c = FakeContainer::new("web").with_label("k", "v").with_privileged(true).with_pid(4242);
    let id = fake.add(c);
    let exited = fake.add(FakeContainer::new("done").stopped());
    let paused = fake.add(FakeContainer::new("zzz").with_paused(true));
    let docker = client(&fake).negotiate_version().await.unwrap();

    let d = docker.inspect_container(&id, None).await.expect("inspect");
    assert_eq!(d.id.as_deref(), Some(id.as_str()));
    assert_eq!(d.name.as_deref(), Some("/web"));
    let state = d.state.as_ref().unwrap();
    assert_eq!((state.running, state.paused, state.pid), (Some(true), Some(false), Some(4242)));
    assert_eq!(state.status, Some(bollard::models::ContainerStateStatusEnum::RUNNING));
    assert_eq!(
        d.config.as_ref().and_then(|c| c.labels.as_ref()).and_then(|l| l.get("k")).map(String::as_str),
        Some("v")
    );
    assert_eq!(d.host_config.as_ref().and_then(|h| h.privileged), Some(true));
    assert_eq!(fake.last_target(Endpoint::Inspect), Some(format!("/containers/{id}/json")));

    // By name and by unique prefix, as dockerd resolves them.
    assert_eq!(docker.inspect_container("web", None).await.unwrap().id.as_deref(), Some(id.as_str()));
    assert_eq!(docker.inspect_container(&id[..12], None).await.unwrap().id.as_deref(), Some(id.as_str()));

    let e = docker.inspect_container(&exited, None).await.unwrap();
    let es = e.state.unwrap();
    assert_eq!(
        (es.running, es.pid, es.status),
        (Some(false), Some(0), Some(bollard::models::ContainerStateStatusEnum::EXITED))
    );
    let p = docker.inspect_container(&paused, None).await.unwrap().state.unwrap();
    assert_eq!(
        (p.running, p.paused, p.status),
        (Some(true), Some(true), Some(bollard::models::ContainerStateStatusEnum::PAUSED))
    );

    let unknown = fake_docker::fake_id();
    match docker.inspect_container(&unknown, None).await {
        Err(BollardError::DockerResponseServerError { status_code: 404, message }) => {
            assert_eq!(message, format!("No such container: {unknown}"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests(Endpoint::Inspect), 6);
}

#[tokio::test]
async fn streams_lifecycle_events_with_dockers_fields() {
    let fake = FakeDocker::start();
    let docker = client(&fake);
    let mut events = subscribe(&fake, &docker, None, 0).await;
    let query = fake.last_query(Endpoint::Events).unwrap();
    assert!(query.iter().all(|(k, _)| k != "since"), "{query:?}");

    let id = fake.run(FakeContainer::new("web").with_label("com.docker.compose.project", "shop"));
    let ev = next_event(&mut events).await;
    assert_eq!(ev.typ, Some(EventMessageTypeEnum::CONTAINER));
    assert_eq!(ev.action.as_deref(), Some("start"));
    assert_eq!(actor_id(&ev), id);
    assert_eq!(attr(&ev, "name"), Some("web"));
    assert_eq!(attr(&ev, "com.docker.compose.project"), Some("shop"));
    assert_eq!(attr(&ev, "image"), Some(fake_docker::IMAGE));
    assert_eq!(ev.scope, Some(bollard::models::EventMessageScopeEnum::LOCAL));
    let (time, nanos) = (ev.time.unwrap(), ev.time_nano.unwrap());
    assert_eq!(time, nanos / 1_000_000_000);
    assert!((i128::from(nanos) - fake.now_nanos()).abs() < 5_000_000_000);

    // Filtered out by type and by action, as the daemon does.
    fake.emit_typed("image", "pull", "busybox:latest", &[("name", "busybox")]);
    fake.emit("create", &id, &[("name", "web")]);
    fake.emit("exec_die", &id, &[("name", "web")]);

    assert!(fake.pause(&id, true));
    let ev = next_event(&mut events).await;
    assert_eq!((ev.action.as_deref(), actor_id(&ev)), (Some("pause"), id.as_str()));
    assert!(fake.get(&id).unwrap().paused);
    assert!(fake.pause(&id, false));
    assert_eq!(next_event(&mut events).await.action.as_deref(), Some("unpause"));

    assert!(fake.rename(&id, "shop-web-1"));
    let ev = next_event(&mut events).await;
    assert_eq!(ev.action.as_deref(), Some("rename"));
    assert_eq!((attr(&ev, "name"), attr(&ev, "oldName")), (Some("shop-web-1"), Some("/web")));

    assert!(fake.kill(&id));
    let ev = next_event(&mut events).await;
    assert_eq!((ev.action.as_deref(), attr(&ev, "exitCode")), (Some("die"), Some("137")));
    assert!(fake.get(&id).is_none());
    assert!(!fake.kill(&id), "already gone");

    let stopped = fake.run(FakeContainer::new("batch"));
    assert_eq!(next_event(&mut events).await.action.as_deref(), Some("start"));
    assert!(fake.stop(&stopped));
    let ev = next_event(&mut events).await;
    assert_eq!((ev.action.as_deref(), attr(&ev, "exitCode")), (Some("die"), Some("0")));
    assert_eq!(fake.get(&stopped).map(|c| (c.running, c.pid)), Some((false, 0)));

    // A clean end: the stream simply ends.
    fake.end_streams();
    assert!(timeout(SHORT, events.next()).await.unwrap().is_none());
    assert_eq!(fake.event_streams(), 0);
}

#[tokio::test]
async fn replays_events_since_like_dockerd() {
    let fake = FakeDocker::start();
    let docker = client(&fake);
    let early = fake.run(FakeContainer::new("early"));
    let t0 = fake_docker::parse_rfc3339_nano(&docker.info().await.unwrap().system_time.unwrap()).unwrap();
    let a = fake.run(FakeContainer::new("a"));
    let b = fake.run(FakeContainer::new("b"));
    fake.pause(&a, true);

    let mut events = subscribe(&fake, &docker, Some(since_arg(t0)), 0).await;
    let query = fake.last_query(Endpoint::Events).unwrap();
    assert!(query.contains(&("since".to_string(), since_arg(t0))), "{query:?}");
    // Replayed: what happened at or after t0, in order; not `early`.
    for (action, id) in [("start", &a), ("start", &b), ("pause", &a)] {
        let ev = next_event(&mut events).await;
        assert_eq!((ev.action.as_deref(), actor_id(&ev)), (Some(action), id.as_str()));
        assert!(i128::from(ev.time_nano.unwrap()) >= t0);
    }
    // Then live ones, without a gap or a duplicate.
    let c = fake.run(FakeContainer::new("c"));
    let ev = next_event(&mut events).await;
    assert_eq!((ev.action.as_deref(), actor_id(&ev)), (Some("start"), c.as_str()));
    assert_ne!(early, c);

    // The ring keeps the last 256 events only.
    for i in 0..300 {
        fake.emit("start", &format!("bulk-{i}"), &[("name", "bulk")]);
    }
    let mut all = subscribe(&fake, &docker, Some("0".into()), 1).await;
    let marker = fake.run(FakeContainer::new("marker"));
    let mut replayed = Vec::new();
    loop {
        let ev = next_event(&mut all).await;
        if actor_id(&ev) == marker {
            break;
        }
        replayed.push(actor_id(&ev).to_string());
    }
    assert_eq!(replayed.len(), EVENT_RING);
    assert_eq!(replayed.first().map(String::as_str), Some("bulk-44"));
    assert_eq!(replayed.last().map(String::as_str), Some("bulk-299"));

    // A `since` dockerd cannot parse: 400.
    let opts = EventsOptions { since: Some("yesterday".into()), ..Default::default() };
    match docker.events(Some(opts)).next().await {
        Some(Err(BollardError::DockerResponseServerError { status_code: 400, message })) => {
            assert!(message.contains("invalid syntax"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn until_ends_the_stream() {
    let fake = FakeDocker::start();
    let docker = client(&fake);
    let id = fake.run(FakeContainer::new("x"));
    let until = fake.now_nanos() + 200_000_000;
    let opts = EventsOptions { since: Some("0".into()), until: Some(since_arg(until)), filters: None };
    let mut events = docker.events(Some(opts)).boxed();
    assert_eq!(actor_id(&next_event(&mut events).await), id);
    let started = Instant::now();
    assert!(timeout(SHORT, events.next()).await.unwrap().is_none(), "ends at `until`");
    assert!(started.elapsed() < SHORT);
}

#[tokio::test]
async fn malformed_and_broken_event_streams_reach_the_client() {
    let fake = FakeDocker::start();
    let docker = client(&fake);

    // Malformed JSON: a serde error from bollard's line decoder, then the end.
    let mut events = subscribe(&fake, &docker, None, 0).await;
    fake.emit_raw(&b"{\"Type\":\"container\",\"Action\":\"start\",\n"[..]);
    fake.emit_raw(&b"{garbage}\n"[..]);
    match timeout(SHORT, events.next()).await.unwrap() {
        Some(Err(BollardError::JsonSerdeError { .. })) => {}
        other => panic!("{other:?}"),
    }
    drop(events);
    until_streams(&fake, 0).await;

    // Invalid UTF-8 inside a string.
    let mut events = subscribe(&fake, &docker, None, 0).await;
    fake.emit_raw(&b"{\"Type\":\"container\",\"Action\":\"st\xff\xfeart\"}\n"[..]);
    let got = timeout(SHORT, events.next()).await.unwrap();
    assert!(matches!(got, Some(Err(BollardError::JsonSerdeError { .. }))), "{got:?}");
    drop(events);
    until_streams(&fake, 0).await;

    // Well-formed JSON bollard's types refuse (an unknown Type).
    let mut events = subscribe(&fake, &docker, None, 0).await;
    fake.emit_raw(&b"{\"Type\":\"starship\",\"Action\":\"start\"}\n"[..]);
    let got = timeout(SHORT, events.next()).await.unwrap();
    assert!(matches!(got, Some(Err(BollardError::JsonDataError { .. }))), "{got:?}");
    drop(events);
    until_streams(&fake, 0).await;

    // A valid raw chunk passes as is.
    let mut events = subscribe(&fake, &docker, None, 0).await;
    fake.emit_raw(&b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"raw\"}}\n"[..]);
    assert_eq!(actor_id(&next_event(&mut events).await), "raw");

    // Broken mid-chunk: a transport error, then the end.
    fake.break_streams();
    let got = timeout(SHORT, events.next()).await.unwrap();
    assert!(matches!(got, Some(Err(BollardError::IOError { .. }))), "{got:?}");
    assert!(timeout(SHORT, events.next()).await.unwrap().is_none());
    assert_eq!(fake.event_streams(), 0);

    // Dropping the client's stream closes the subscription on the fake's side.
    let events = subscribe(&fake, &docker, None, 0).await;
    drop(events);
    until_streams(&fake, 0).await; // the fake noticed the client hung up
}

#[tokio::test]
async fn status_raw_body_and_truncation_faults_surface_as_bollard_errors() {
    let fake = FakeDocker::start();
    let id = fake.add(FakeContainer::new("web"));
    let docker = client(&fake);

    fake.set(Endpoint::List, Behavior::Status(500, r#"{"message":"boom"}"#.into()));
    match docker.list_containers(None::<ListContainersOptions>).await {
        Err(BollardError::DockerResponseServerError { status_code: 500, message }) => assert_eq!(message, "boom"),
        other => panic!("{other:?}"),
    }
    fake.set(Endpoint::List, Behavior::Normal);
    assert_eq!(docker.list_containers(None::<ListContainersOptions>).await.unwrap().len(), 1);

    fake.set(Endpoint::Info, Behavior::RawBody(b"{\"ID\": ".to_vec()));
    let got = docker.info().await;
    assert!(matches!(got, Err(BollardError::JsonSerdeError { .. })), "cut short: {got:?}");
    fake.set(Endpoint::Info, Behavior::RawBody(b"{\"ID\": nope}".to_vec()));
    let got = docker.info().await;
    assert!(matches!(got, Err(BollardError::JsonDataError { .. })), "syntax: {got:?}");
    fake.set(Endpoint::Info, Behavior::RawBody(br#"{"ID": 42}"#.to_vec()));
    let got = docker.info().await;
    assert!(matches!(got, Err(BollardError::JsonDataError { .. })), "type: {got:?}");
    fake.set(Endpoint::Info, Behavior::RawBody(b"{\"ID\":\"\xff\xfe\"}".to_vec()));
    let got = docker.info().await;
    assert!(matches!(got, Err(BollardError::JsonDataError { .. })), "invalid UTF-8: {got:?}");

    fake.set(Endpoint::Version, Behavior::RawBody(br#"{"ApiVersion":"one.forty"}"#.to_vec()));
    let got = client(&fake).negotiate_version().await.map(|_| ());
    assert!(matches!(got, Err(BollardError::APIVersionParseError {})), "{got:?}");
    fake.set(Endpoint::Version, Behavior::RawBody(b"{}".to_vec()));
    let got = client(&fake).negotiate_version().await.map(|_| ());
    assert!(matches!(got, Err(BollardError::APIVersionParseError {})), "{got:?}");

    fake.set(Endpoint::Inspect, Behavior::Truncated);
    let got = docker.inspect_container(&id, None).await;
    assert!(matches!(got, Err(BollardError::HyperResponseError { .. })), "{got:?}");
    fake.set(Endpoint::Inspect, Behavior::Status(409, "not json at all".into()));
    match docker.inspect_container(&id, None).await {
        Err(BollardError::DockerResponseServerError { status_code: 409, message }) => {
            assert_eq!(message, "not json at all")
        }
        other => panic!("{other:?}"),
    }

    // One container's inspection only.
    let other = fake.add(FakeContainer::new("other"));
    fake.set(Endpoint::Inspect, Behavior::Normal);
    fake.set_inspect(&other, Behavior::RawBody(br#"{"Id":"#.to_vec()));
    assert!(docker.inspect_container(&id, None).await.is_ok());
    let got = docker.inspect_container(&other, None).await;
    assert!(matches!(got, Err(BollardError::JsonSerdeError { .. })), "{got:?}");
    fake.set(Endpoint::Inspect, Behavior::Status(500, "{}".into()));
    assert!(docker.inspect_container(&other, None).await.is_err(), "the override wins");
    fake.set_inspect(&other, Behavior::Normal);
    fake.set(Endpoint::Inspect, Behavior::Normal);
    assert!(docker.inspect_container(&other, None).await.is_ok());

    fake.set(Endpoint::Events, Behavior::Status(500, r#"{"message":"no events for you"}"#.into()));
    let mut events = docker.events(None::<EventsOptions>).boxed();
    let got = timeout(SHORT, events.next()).await.unwrap();
    assert!(matches!(got, Some(Err(BollardError::DockerResponseServerError { status_code: 500, .. }))), "{got:?}");
    fake.set(Endpoint::Events, Behavior::Truncated);
    let mut events = docker.events(None::<EventsOptions>).boxed();
    let got = timeout(SHORT, events.next()).await.unwrap();
    assert!(matches!(got, Some(Err(BollardError::IOError { .. }))), "{got:?}");
    fake.set(Endpoint::Events, Behavior::RawBody(b"{\"Type\":\"container\",\"Action\":\"die\"}\n".to_vec()));
    let mut events = docker.events(None::<EventsOptions>).boxed();
    assert_eq!(next_event(&mut events).await.action.as_deref(), Some("die"));
    assert!(timeout(SHORT, events.next()).await.unwrap().is_none(), "a raw body ends the stream");

    fake.reset_behaviors();
    assert_eq!(fake.behavior(Endpoint::Events), Behavior::Normal);
    assert!(docker.info().await.is_ok());
}

#[tokio::test]
async fn hangs_delays_and_refusals() {
    let fake = FakeDocker::start();
    let docker = client(&fake);

    // Hang: the client's own timeout fires (bollard's 1 s here).
    fake.set(Endpoint::Info, Behavior::Hang);
    let started = Instant::now();
    let got = client_with_timeout(&fake, 1).info().await;
    assert!(matches!(got, Err(BollardError::RequestTimeoutError)), "{got:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(timeout(Duration::from_millis(300), docker.info()).await.is_err(), "still hanging");
    // A held request is answered once the behavior changes.
    let held = tokio::spawn({
        let docker = docker.clone();
        async move { docker.info().await }
    });
    let end = Instant::now() + SHORT;
    while fake.requests(Endpoint::Info) < 3 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(fake.requests(Endpoint::Info), 3);
    fake.set(Endpoint::Info, Behavior::Normal);
    let info = timeout(SHORT, held).await.expect("released").unwrap().expect("answered normally");
    assert_eq!(info.server_version.as_deref(), Some("fake-20.10"));

    // Hang on the event stream: no headers, nothing.
    fake.set(Endpoint::Events, Behavior::Hang);
    let mut events = docker.events(None::<EventsOptions>).boxed();
    assert!(timeout(Duration::from_millis(300), events.next()).await.is_err());
    assert_eq!(fake.event_streams(), 0, "not subscribed while hanging");
    fake.set(Endpoint::Events, Behavior::Normal);
    until_streams(&fake, 1).await; // released into a subscription
    let id = fake.run(FakeContainer::new("late"));
    assert_eq!(actor_id(&next_event(&mut events).await), id);

    // Delay: answered, late.
    fake.set(Endpoint::Version, Behavior::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    client(&fake).negotiate_version().await.expect("delayed but fine");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Refused connections: counted as connections, never as requests.
    fake.reset_counters();
    fake.refuse(true);
    let got = docker.ping().await;
    assert!(matches!(got, Err(BollardError::HyperLegacyError { .. })), "{got:?}");
    assert_eq!((fake.connections(), fake.requests_total()), (1, 0));
    fake.refuse(false);
    assert_eq!(docker.ping().await.unwrap(), "OK");
    assert_eq!((fake.connections(), fake.requests_total()), (2, 1));
}

#[tokio::test]
async fn counts_every_request_per_endpoint() {
    let fake = FakeDocker::start();
    let id = fake.add(FakeContainer::new("one"));
    let docker = client(&fake).negotiate_version().await.unwrap();
    docker.info().await.unwrap();
    let opts = ListContainersOptions { all: true, filters: Some(alive_filter()), ..Default::default() };
    docker.list_containers(Some(opts)).await.unwrap();
    docker.inspect_container(&id, None).await.unwrap();
    docker.inspect_container("nope", None).await.unwrap_err();
    let events = subscribe(&fake, &docker, None, 0).await;
    let counts: Vec<usize> = Endpoint::ALL.iter().map(|&e| fake.requests(e)).collect();
    // Ping, Version, Info, List, Inspect, Events, Other
    assert_eq!(counts, [0, 1, 1, 1, 2, 1, 0]);
    assert_eq!(fake.requests_total(), 6);
    assert_eq!(fake.connections(), 6, "one connection per request");

    // Idle: nothing more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.requests_total(), 6);
    fake.reset_counters();
    assert_eq!((fake.requests_total(), fake.connections()), (0, 0));
    drop(events);
}

#[test]
fn add_many_makes_thousands_of_realistic_containers_quickly() {
    let fake = FakeDocker::start();
    let started = Instant::now();
    let ids = fake.add_many(10_000);
    eprintln!("add_many(10_000): {:?}", started.elapsed());
    assert_eq!(ids.len(), 10_000);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10_000);
    assert!(ids
        .iter()
        .all(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())));
    let all = fake.containers();
    assert_eq!(all.len(), 10_000);
    let compose = all.iter().filter(|c| c.labels.iter().any(|(k, _)| k == "com.docker.compose.project")).count();
    assert!(compose > 8_000 && compose < 10_000, "{compose}");
    let mut pids: Vec<i64> = all.iter().map(|c| c.pid).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 10_000);

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let docker = client_with_timeout(&fake, 120);
        let opts = ListContainersOptions { all: true, filters: Some(alive_filter()), ..Default::default() };
        let started = Instant::now();
        let listed = docker.list_containers(Some(opts)).await.unwrap();
        assert_eq!(listed.len(), 10_000);
        eprintln!("listing 10 000 containers: {:?}", started.elapsed());
    });
}

#[test]
fn dropping_the_fake_stops_it_and_removes_its_socket() {
    let fake = FakeDocker::start();
    let socket = fake.socket().to_path_buf();
    assert!(socket.starts_with(std::env::temp_dir()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let docker = client(&fake);
    let mut events = rt.block_on(async {
        fake.set(Endpoint::Inspect, Behavior::Hang);
        subscribe(&fake, &docker, None, 0).await
    });
    let other = FakeDocker::start();
    assert_ne!(other.socket(), fake.socket(), "each fake has its own socket");
    drop(fake);
    assert!(!socket.exists());
    rt.block_on(async {
        // The open stream ends with the fake.
        let got = timeout(SHORT, events.next()).await.expect("ended in time");
        assert!(!matches!(got, Some(Ok(_))), "{got:?}");
        assert!(docker.ping().await.is_err());
    });
}
