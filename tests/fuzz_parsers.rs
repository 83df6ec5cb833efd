//! Randomised fuzzing of every parser and decoder the project owns: engine
//! timestamps, endpoints, namespace lists, the C options struct, Docker
//! events and inspections (from arbitrary JSON) and containerd envelopes
//! (from arbitrary protobuf bytes). Each must answer or refuse, never panic,
//! and what it accepts must be well-formed.
//!
//! The suite runs a bounded number of cases per target; a longer run:
//!   PROPTEST_CASES=200000 cargo test --release --test fuzz_parsers

use std::ffi::CString;

use containerd_client::types::Envelope;
use proptest::prelude::*;
use prost::Message;
use whalewatcher::core::engines::clock::{docker_since, rfc3339_to_unix_nanos};
use whalewatcher::core::engines::containerd::{decode_display_id, display_id, to_event as ctrd_event};
use whalewatcher::core::engines::docker::{to_container, to_event};
use whalewatcher::core::options::{parse_containerd_endpoint, parse_docker_endpoint, parse_namespaces};
use whalewatcher::ffi::*;

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Arbitrary JSON values, nested a little.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("running")),
        Just(serde_json::Value::from("container")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("Id".to_string()),
                    Just("Name".to_string()),
                    Just("State".to_string()),
                    Just("Pid".to_string()),
                    Just("Running".to_string()),
                    Just("Paused".to_string()),
                    Just("Config".to_string()),
                    Just("Labels".to_string()),
                    Just("HostConfig".to_string()),
                    Just("Privileged".to_string()),
                    Just("Type".to_string()),
                    Just("Action".to_string()),
                    Just("Actor".to_string()),
                    Just("ID".to_string()),
                    Just("Attributes".to_string()),
                    Just("name".to_string()),
                    ".{0,6}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn well_formed(c: &whalewatcher::core::Container) {
    assert!(c.pid > 0);
    assert!(!c.id().is_empty() && !c.name().is_empty());
    let keys: Vec<&str> = c.labels().map(|(k, _)| k).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "labels sorted, keys unique");
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn timestamps(s in ".{0,40}", n in any::<i64>()) {
        if let Some(nanos) = rfc3339_to_unix_nanos(&s) {
            prop_assert!(s.len() >= 20);
            // What it accepts formats back into a since value that parses.
            let since = docker_since(nanos);
            let (secs, frac) = since.split_once('.').unwrap();
            prop_assert!(secs.parse::<i128>().is_ok() && frac.len() == 9);
        }
        let since = docker_since(i128::from(n));
        prop_assert_eq!(since.split_once('.').unwrap().1.len(), 9);
    }

    #[test]
    fn near_valid_timestamps(y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62, se in 0u32..62, frac in "[0-9]{0,12}", tz in prop_oneof![Just("Z".to_string()), "[+-][0-9]{2}:[0-9]{2}", ".{0,3}"]) {
        let s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{}{frac}{tz}", if frac.is_empty() { "" } else { "." });
        let _ = rfc3339_to_unix_nanos(&s);
    }

    #[test]
    fn endpoints_and_namespaces(s in ".{0,60}", scheme in prop_oneof![Just("unix://"), Just("tcp://"), Just("http://"), Just(""), Just("ssh://")]) {
        let s = format!("{scheme}{s}");
        if let Ok(e) = parse_docker_endpoint(&s) {
            // An accepted endpoint displays as a URL that parses to itself.
            prop_assert_eq!(parse_docker_endpoint(&e.to_string()).unwrap(), e);
        }
        if let Ok(e) = parse_containerd_endpoint(&s) {
            prop_assert_eq!(parse_containerd_endpoint(&e.to_string()).unwrap(), e);
        }
        if let Ok(list) = parse_namespaces(&s) {
            for ns in list {
                prop_assert!(!ns.is_empty() && !ns.contains(',') && !ns.contains('/'));
                let shown = display_id(&ns, "x");
                prop_assert_eq!(decode_display_id(&shown), (ns.as_str(), "x"));
            }
        }
    }

    #[test]
    fn docker_events_and_inspections(v in json(), id in "[0-9a-f]{1,64}") {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(msg) = serde_json::from_slice::<bollard::models::EventMessage>(&bytes) {
            if let Some(ev) = to_event(msg) {
                prop_assert!(!ev.id.is_empty());
            }
        }
        if let Ok(details) = serde_json::from_slice::<bollard::models::ContainerInspectResponse>(&bytes) {
            if let Some(c) = to_container(&id, details) {
                well_formed(&c);
            }
        }
    }

    #[test]
    fn containerd_envelopes(ns in ".{0,8}", topic in prop_oneof![Just("/tasks/start".to_string()), Just("/tasks/exit".to_string()), Just("/tasks/paused".to_string()), Just("/tasks/resumed".to_string()), ".{0,12}"], payload in prop::collection::vec(any::<u8>(), 0..64), raw in prop::collection::vec(any::<u8>(), 0..128)) {
        let env = Envelope {
            timestamp: None,
            namespace: ns,
            topic,
            event: Some(prost_types::Any { type_url: "x".into(), value: payload }),
        };
        if let Some(ev) = ctrd_event(&env) {
            prop_assert!(!ev.id.is_empty());
        }
        // Whole envelopes from arbitrary bytes, as they come off the wire.
        if let Ok(env) = Envelope::decode(raw.as_slice()) {
            let _ = ctrd_event(&env);
        }
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// `ww_new` with arbitrary option values and strings: a known status,
    /// and a watcher that closes cleanly when it was accepted.
    #[test]
    fn c_options(engine in 0u32..4, backoff in 0u32..4, initial in any::<u32>(), max in any::<u32>(), elapsed in any::<u32>(), timeout in any::<u32>(), endpoint in proptest::option::of(prop_oneof![".{0,40}", "unix:///tmp/[a-z]{1,8}\\.sock", "/tmp/[a-z]{1,8}"]), ignored in proptest::option::of(".{0,30}"), size in prop_oneof![Just(32u32), Just(40), Just(48), any::<u32>()]) {
        let endpoint = endpoint.map(|e| CString::new(e.replace('\0', "")).unwrap());
        let ignored = ignored.map(|e| CString::new(e.replace('\0', "")).unwrap());
        let mut o = std::mem::MaybeUninit::<ww_options>::uninit();
        let mut o = unsafe { ww_options_init(o.as_mut_ptr(), std::mem::size_of::<ww_options>()); o.assume_init() };
        o.struct_size = size;
        o.engine = engine;
        o.backoff = backoff;
        o.backoff_initial_ms = initial;
        o.backoff_max_ms = max;
        o.backoff_max_elapsed_ms = elapsed;
        o.call_timeout_ms = timeout;
        o.endpoint = endpoint.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        o.ignored_namespaces = ignored.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let mut w = std::ptr::null_mut();
        let st = unsafe { ww_new(&o, &mut w) };
        prop_assert!(matches!(st, WW_STATUS_OK | WW_STATUS_INVALID_ARG | WW_STATUS_ABI_MISMATCH), "status {}", st);
        prop_assert_eq!(st == WW_STATUS_OK, !w.is_null());
        unsafe { ww_close(w) };
    }
}
