//! Spec parsing and every validation error: a bad spec gives a message naming the file, the
//! field and the problem, never a panic.

use std::path::{Path, PathBuf};
use workloads::{load_chain, parse_chain, reference, Pattern, RouteKind, SpecError, Step};

const FILE: &str = "bad.toml";

const BASE: &str = r#"
name = "t"
[[functions]]
id = 1
name = "a"
handler = "synthetic"
[[functions]]
id = 2
name = "b"
handler = "synthetic"
"#;

fn parse(extra: &str) -> Result<workloads::Chain, SpecError> {
    parse_chain(&format!("{BASE}{extra}"), Path::new(FILE))
}

/// Asserts the spec fails on `field` with a message containing `needle`, and that the rendered
/// message names the file.
fn rejects(extra: &str, field: &str, needle: &str) {
    let err = parse(extra).expect_err("spec should be rejected");
    let msg = err.to_string();
    assert!(msg.starts_with(FILE), "message must name the file: {msg}");
    assert_eq!(err.field(), Some(field), "wrong field in: {msg}");
    assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
}

const PIPE: &str = "\n[[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = [\"a\", \"b\"]\n";

fn chains_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chains")
}

#[test]
fn shipped_chains_parse() {
    for entry in std::fs::read_dir(chains_dir()).unwrap() {
        let path = entry.unwrap().path();
        let chain = load_chain(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path.file_stem().unwrap().to_str().unwrap(), chain.name);
    }
}

#[test]
fn call_tree_chain_nests_two_deep() {
    let chain = load_chain(&chains_dir().join("call-tree.toml")).unwrap();
    let route = chain.route_by_key("checkout").unwrap();
    assert_eq!(route.kind, RouteKind::CallTree);
    // front -> lookup -> front -> order -> pay -> order -> notify -> order -> front
    let funcs: Vec<u16> = route.visits().iter().map(|(n, _)| route.node(*n).func).collect();
    assert_eq!(funcs, vec![1, 2, 1, 3, 4, 3, 5, 3, 1]);
    assert_eq!(route.next(0, None, &mut workloads::State::new(route.id)), Step::Call(1));
    assert_eq!(chain.route_by_key("2").unwrap().name, "browse");
}

#[test]
fn reference_execution_is_deterministic_and_route_dependent() {
    let chain = load_chain(&chains_dir().join("call-tree.toml")).unwrap();
    let a = reference::execute(&chain, chain.route_by_key("checkout").unwrap(), b"hello").unwrap();
    let b = reference::execute(&chain, chain.route_by_key("checkout").unwrap(), b"hello").unwrap();
    let c = reference::execute(&chain, chain.route_by_key("browse").unwrap(), b"hello").unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(String::from_utf8_lossy(&a).contains("visits=9"));
}

#[test]
fn load_defaults_and_patterns() {
    let c = parse(&format!("{PIPE}\n[load]\npattern = \"closed\"\nusers = 5\nthink_min_ms = 1\nthink_max_ms = 2\n"))
        .unwrap();
    assert_eq!(c.load.pattern, Pattern::Closed { users: 5, think_min_ms: 1, think_max_ms: 2 });
    let c = parse(PIPE).unwrap();
    assert!(matches!(c.load.pattern, Pattern::Open { .. }));
}

#[test]
fn missing_file_is_a_read_error() {
    let err = load_chain(Path::new("/nonexistent/chain.toml")).unwrap_err();
    assert!(matches!(err, SpecError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/chain.toml"));
}

#[test]
fn syntax_errors_name_the_position() {
    let err = parse_chain("name = \"t\"\n[[functions]]\nid = \n", Path::new(FILE)).unwrap_err();
    assert!(matches!(err, SpecError::Syntax { .. }));
    let msg = err.to_string();
    assert!(msg.starts_with(FILE) && msg.contains("line 3"), "{msg}");
}

#[test]
fn unknown_fields_are_rejected() {
    let err = parse(&format!("{PIPE}\nwieght = 3\n")).unwrap_err();
    assert!(err.to_string().contains("wieght"), "{err}");
}

#[test]
fn unknown_function_in_route() {
    rejects(
        "\n[[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = [\"a\", \"zz\"]\n",
        "routes[0] \"r\".functions[1]",
        "unknown function \"zz\"",
    );
}

#[test]
fn unknown_function_in_tree() {
    rejects(
        "\n[[routes]]\nname = \"r\"\nkind = \"call-tree\"\ntree = { fn = \"a\", calls = [ { fn = \"nope\" } ] }\n",
        "routes[0] \"r\".tree.calls[0].fn",
        "unknown function",
    );
}

#[test]
fn pipeline_cycle() {
    rejects(
        "\n[[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = [\"a\", \"b\", \"a\"]\n",
        "routes[0] \"r\".functions[2]",
        "route cycle",
    );
}

#[test]
fn call_tree_cycle() {
    rejects(
        "\n[[routes]]\nname = \"r\"\nkind = \"call-tree\"\ntree = { fn = \"a\", calls = [ { fn = \"b\", calls = [ { fn = \"a\" } ] } ] }\n",
        "routes[0] \"r\".tree.calls[0].calls[0].fn",
        "route cycle",
    );
}

#[test]
fn bad_weights() {
    rejects(&PIPE.replace("kind", "weight = -1\nkind"), "routes[0] \"r\".weight", "finite number >= 0");
    rejects(&PIPE.replace("kind", "weight = nan\nkind"), "routes[0] \"r\".weight", "finite");
    rejects(&PIPE.replace("kind", "weight = 0\nkind"), "routes[*].weight", "all route weights are zero");
}

#[test]
fn duplicate_ids_and_names() {
    let dup = BASE.replace("id = 2", "id = 1");
    let err = parse_chain(&format!("{dup}{PIPE}"), Path::new(FILE)).unwrap_err();
    assert_eq!(err.field(), Some("functions[1].id"));
    let dup = BASE.replace("name = \"b\"", "name = \"a\"");
    let err = parse_chain(&format!("{dup}{PIPE}"), Path::new(FILE)).unwrap_err();
    assert_eq!(err.field(), Some("functions[1].name"));
    rejects(&format!("{PIPE}{PIPE}"), "routes[1].name", "used twice");
}

#[test]
fn function_field_errors() {
    let bad = |from: &str, to: &str| {
        parse_chain(&format!("{}{PIPE}", BASE.replacen(from, to, 1)), Path::new(FILE)).unwrap_err()
    };
    assert_eq!(bad("id = 1", "id = 0").field(), Some("functions[0].id"));
    assert_eq!(bad("name = \"a\"", "name = \"a b\"").field(), Some("functions[0].name"));
    let e = bad("handler = \"synthetic\"", "handler = \"magic\"");
    assert_eq!(e.field(), Some("functions[0] \"a\".handler"));
    assert!(e.to_string().contains("known: synthetic"));
    let e = bad("handler = \"synthetic\"", "handler = \"synthetic\"\nworkers = 0");
    assert_eq!(e.field(), Some("functions[0] \"a\".workers"));
    let e = bad("handler = \"synthetic\"", "handler = \"synthetic\"\nparams = { spin = 3 }");
    assert_eq!(e.field(), Some("functions[0] \"a\".params.spin"));
    assert!(e.to_string().contains("work_ns"));
    let e = bad("handler = \"synthetic\"", "handler = \"synthetic\"\nparams = { work_ns = -3 }");
    assert_eq!(e.field(), Some("functions[0] \"a\".params.work_ns"));
    let e = bad("handler = \"synthetic\"", "handler = \"synthetic\"\nparams = { payload_bytes = 100000000 }");
    assert_eq!(e.field(), Some("functions[0] \"a\".params.payload_bytes"));
}

#[test]
fn route_shape_errors() {
    rejects(
        "\n[[routes]]\nname = \"r\"\nkind = \"ring\"\nfunctions = [\"a\"]\n",
        "routes[0] \"r\".kind",
        "not a route kind",
    );
    rejects(
        "\n[[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = []\n",
        "routes[0] \"r\".functions",
        "at least one",
    );
    rejects(
        "\n[[routes]]\nname = \"r\"\nkind = \"call-tree\"\nfunctions = [\"a\"]\n",
        "routes[0] \"r\".tree",
        "call tree needs",
    );
    rejects(
        "\n[[routes]]\nname = \"42\"\nkind = \"pipeline\"\nfunctions = [\"a\"]\n",
        "routes[0].name",
        "not only digits",
    );
    rejects(&PIPE.replace("kind", "payload_bytes = 99999999\nkind"), "routes[0] \"r\".payload_bytes", "max_body_bytes");
    rejects("", "routes", "at least one route");
    let err = parse_chain("name = \"t\"\n", Path::new(FILE)).unwrap_err();
    assert_eq!(err.field(), Some("functions"));
}

#[test]
fn call_tree_depth_is_bounded() {
    let mut fns = String::from("name = \"deep\"\n");
    for i in 1..=20 {
        fns += &format!("[[functions]]\nid = {i}\nname = \"f{i}\"\nhandler = \"synthetic\"\n");
    }
    let mut tree = String::from("{ fn = \"f20\" }");
    for i in (1..20).rev() {
        tree = format!("{{ fn = \"f{i}\", calls = [ {tree} ] }}");
    }
    let spec = format!("{fns}[[routes]]\nname = \"r\"\nkind = \"call-tree\"\ntree = {tree}\n");
    let err = parse_chain(&spec, Path::new(FILE)).unwrap_err();
    assert!(err.to_string().contains("deeper than 16"), "{err}");
}

#[test]
fn chain_level_errors() {
    let bad = |extra: &str| {
        parse_chain(&format!("{extra}\n{}{PIPE}", BASE.replacen("name = \"t\"\n", "", 1)), Path::new(FILE))
    };
    assert_eq!(bad("name = \"t\"\npool_slots = 0").unwrap_err().field(), Some("pool_slots"));
    assert_eq!(bad("name = \"t\"\ngateway_timeout_ms = 0").unwrap_err().field(), Some("gateway_timeout_ms"));
    assert_eq!(bad("name = \"t\"\nmax_body_bytes = 0").unwrap_err().field(), Some("max_body_bytes"));
    assert_eq!(bad("name = \"t t\"").unwrap_err().field(), Some("name"));
    let c = bad("name = \"t\"\npool_slots = 4\ngateway_timeout_ms = 250").unwrap();
    assert_eq!((c.pool_slots, c.gateway_timeout_ms), (4, 250));
}

#[test]
fn load_errors() {
    rejects(&format!("{PIPE}[load]\npattern = \"wave\"\n"), "load.pattern", "open");
    rejects(&format!("{PIPE}[load]\nrate = 0\n"), "load.rate", "> 0");
    rejects(&format!("{PIPE}[load]\narrival = \"bursty\"\n"), "load.arrival", "poisson");
    rejects(&format!("{PIPE}[load]\nduration_s = -1\n"), "load.duration_s", "> 0");
    rejects(&format!("{PIPE}[load]\nwarmup_s = -1\n"), "load.warmup_s", ">= 0");
    rejects(&format!("{PIPE}[load]\nconnections = 0\n"), "load.connections", "between");
    rejects(&format!("{PIPE}[load]\ntimeout_ms = 0\n"), "load.timeout_ms", "> 0");
    rejects(&format!("{PIPE}[load]\nusers = 3\n"), "load.users", "pattern = \"closed\"");
    rejects(
        &format!("{PIPE}[load]\npattern = \"closed\"\nthink_min_ms = 5\nthink_max_ms = 1\n"),
        "load.think_max_ms",
        "empty",
    );
    rejects(&format!("{PIPE}[load]\npattern = \"burst\"\nburst_size = 0\n"), "load.burst_size", "between");
    rejects(&format!("{PIPE}[load]\npattern = \"burst\"\nburst_every_s = 0\n"), "load.burst_every_s", "> 0");
}

#[test]
fn stable_window_is_a_chain_wide_knob() {
    assert_eq!(parse(PIPE).unwrap().stable_window, std::time::Duration::from_secs(60), "Knative's default");
    let c = parse(&format!("{PIPE}[knative]\nstable-window = \"6s\"\n")).unwrap();
    assert_eq!(c.stable_window, std::time::Duration::from_secs(6));
    rejects(&format!("{PIPE}[knative]\nstable-window = \"0s\"\n"), "knative.stable-window", "from 1s to 1h");
    rejects(&format!("{PIPE}[knative]\nstable-window = \"1500ms\"\n"), "knative.stable-window", "whole seconds");
    rejects(&format!("{PIPE}[knative]\nstable-window = \"soon\"\n"), "knative.stable-window", "not a duration");
}

#[test]
fn knative_knobs_default_to_the_papers_values() {
    let c = parse(PIPE).unwrap();
    let s = c.functions[0].serving;
    assert_eq!(
        (s.container_concurrency, s.min_scale, s.max_scale, s.target_burst_capacity),
        (32, 1, 1, 0),
        "containerConcurrency 32, min = max = 1, target-burst-capacity 0"
    );
    assert_eq!(c.scale_to_zero_grace, std::time::Duration::from_secs(30));
}

#[test]
fn knative_knobs_chain_defaults_and_function_overrides() {
    let text = BASE.replace(
        "name = \"b\"\nhandler = \"synthetic\"\n",
        "name = \"b\"\nhandler = \"synthetic\"\nknative = { min-scale = 0, containerConcurrency = 1 }\n",
    );
    let text = format!(
        "{text}{PIPE}[knative]\nmax-scale = 3\ntarget-burst-capacity = -1\nscale-to-zero-grace-period = \"1m30s\"\ntimeoutSeconds = 7\n"
    );
    let c = parse_chain(&text, Path::new(FILE)).unwrap();
    let (a, b) = (c.functions[0].serving, c.functions[1].serving);
    assert_eq!((a.min_scale, a.max_scale, a.container_concurrency, a.target_burst_capacity), (1, 3, 32, -1));
    assert_eq!((b.min_scale, b.max_scale, b.container_concurrency), (0, 3, 1));
    assert_eq!(b.timeout, std::time::Duration::from_secs(7));
    assert_eq!(c.scale_to_zero_grace, std::time::Duration::from_secs(90));
}

#[test]
fn knative_knob_errors() {
    let with = |knobs: &str| format!("{PIPE}[knative]\n{knobs}\n");
    rejects(&with("min-scale = 2\nmax-scale = 1"), "functions[0] \"a\".knative.min-scale", "above max-scale");
    rejects(&with("containerConcurrency = -1"), "functions[0] \"a\".knative.containerConcurrency", "between 0");
    rejects(&with("target-burst-capacity = -2"), "functions[0] \"a\".knative.target-burst-capacity", "-1");
    rejects(&with("timeoutSeconds = 0"), "functions[0] \"a\".knative.timeoutSeconds", "between 1");
    rejects(&with("scale-to-zero-grace-period = \"soon\""), "knative.scale-to-zero-grace-period", "duration");
    let err = parse(&with("min_scale = 0")).expect_err("misspelt knob");
    assert!(err.to_string().contains("min_scale"), "{err}");
}

#[test]
fn repeat_groups_http_patterns_and_methods() {
    // A valid group and pattern parse into nodes marked with the group's span.
    let tree = r#"
[[routes]]
name = "r"
kind = "call-tree"
http = "GET /item/{id}"
tree = { fn = "a", calls = [ { repeat = "item", calls = [ { fn = "b", method = "get" } ] } ] }
"#;
    let chain = parse(tree).unwrap();
    let route = &chain.routes[0];
    assert_eq!(route.node(1).group, Some((0, 0)));
    assert_eq!(route.node(1).method, "get");
    assert_eq!(route.http.as_ref().unwrap().to_string(), "GET /item/{id}");
    assert_eq!(route.visits_with(2).len(), 5);
    let with = |t: &str| format!("\n[[routes]]\nname = \"r\"\nkind = \"call-tree\"\n{t}\n");
    rejects(
        &with(
            r#"tree = { fn = "a", calls = [ { repeat = "x", calls = [ { fn = "b", calls = [ { fn = "a" } ] } ] } ] }"#,
        ),
        "routes[0] \"r\".tree.calls[0].calls[0]",
        "call nobody",
    );
    rejects(
        &with(r#"tree = { fn = "a", calls = [ { repeat = "x", calls = [] } ] }"#),
        "routes[0] \"r\".tree.calls[0].calls",
        "at least one call",
    );
    rejects(&with(r#"tree = { repeat = "x", calls = [ { fn = "a" } ] }"#), "routes[0] \"r\".tree", "names no function");
    rejects(&with("http = \"GET /a/{x}/{y}\"\ntree = { fn = \"a\" }"), "routes[0] \"r\".http", "at most one");
    rejects(&with("http = \"FETCH /a\"\ntree = { fn = \"a\" }"), "routes[0] \"r\".http", "not one of");
    rejects(&with("http = \"GET a\"\ntree = { fn = \"a\" }"), "routes[0] \"r\".http", "must start with /");
    let twice = format!(
        "{}{}",
        with("http = \"GET /a\"\ntree = { fn = \"a\" }"),
        with("http = \"GET /a\"\ntree = { fn = \"b\" }").replace("\"r\"", "\"s\"")
    );
    rejects(&twice, "routes[1].http", "selects another route");
}

fn online_boutique_spec() -> String {
    std::fs::read_to_string(chains_dir().join("online-boutique.toml")).unwrap()
}

/// Online Boutique's spec with `from` replaced by `to` is rejected on `field`, saying `needle`.
fn bad(from: &str, to: &str, field: &str, needle: &str) {
    let ob = online_boutique_spec();
    assert!(ob.contains(from), "{from}");
    let err = parse_chain(&ob.replacen(from, to, 1), Path::new(FILE)).expect_err("should be rejected");
    assert_eq!(err.field(), Some(field), "{err}");
    assert!(err.to_string().contains(needle), "{err}");
}

#[test]
fn boutique_data_and_methods_are_checked() {
    let ob = online_boutique_spec();
    bad("method = \"ListProducts\"", "method = \"List\"", "routes[0] \"home\".tree.calls[1].method", "ListProducts");
    bad("price_usd = \"19.99\"", "price_usd = \"19.999.1\"", "data.products[0].price_usd", "decimal");
    bad("JPY = \"126.40\"", "JPY = \"-1\"", "data.currencies.JPY", "positive decimal");
    bad("cart_max_items = 10", "cart_max_items = 17", "data.cart_max_items", "from 1 to 16");
    bad("id = \"66VCHSJNUP\"", "id = \"OLJCESPC7Z\"", "data.products[1].id", "used twice");
    bad("name = \"Mug\"", &format!("name = \"{}\"", "M".repeat(33)), "data.products[8].name", "1-32 printable");
    bad(
        "handler = \"boutique-ad\"",
        "handler = \"boutique-adverts\"",
        "functions[9] \"ad\".handler",
        "unknown handler",
    );
    let without_data = &ob[..ob.find("\n[data]").unwrap()];
    let err = parse_chain(without_data, Path::new(FILE)).unwrap_err();
    assert_eq!(err.field(), Some("data"), "{err}");
}

#[test]
fn user_tasks_are_checked() {
    let ob = online_boutique_spec();
    bad("start = \"index\"", "start = \"nope\"", "load.user.start", "no task named");
    bad("{ route = \"home\" }", "{ route = \"homepage\" }", "load.user.tasks[0].requests[0].route", "unknown route");
    bad("param = \"{product}\" }", "}", "load.user.tasks[2].requests[0].param", "give `param`");
    bad(
        "body = \"currency_code={currency}\"",
        "body = \"currency_code={money}\"",
        "load.user.tasks[1].requests[0]",
        "{money}",
    );
    bad("pool = 5000", "pool = 0", "load.user.pool", "between 1");
    bad("spawn_rate = 100", "spawn_rate = -1", "load.user.spawn_rate", ">= 0");
    let users = parse_chain(&ob, Path::new(FILE)).unwrap().users.unwrap();
    // 23 requests per 19 tasks: the ratio WORKLOADS.md gives for Online Boutique's locustfile.
    assert!((users.requests_per_task() - 23.0 / 19.0).abs() < 1e-9);
}

#[test]
fn compress_scales_every_time_of_the_run_unless_full() {
    let path = chains_dir().join("parking.toml");
    let c = load_chain(&path).unwrap();
    let full = workloads::load_chain_full(&path).unwrap();
    assert_eq!((c.time_factor, full.time_factor), (0.4, 1.0));
    assert_eq!((c.load.duration_s, full.load.duration_s), (240.0, 600.0));
    assert_eq!(c.load.pattern, Pattern::Burst { size: 164, every_s: 96.0 });
    assert_eq!(c.scale_to_zero_grace, std::time::Duration::from_secs(12));
    assert_eq!((c.stable_window.as_secs(), full.stable_window.as_secs()), (24, 60));
    let motion = load_chain(&chains_dir().join("motion.toml")).unwrap();
    match &motion.load.pattern {
        Pattern::Trace(t) => assert_eq!(t.time_scale, 0.1),
        p => panic!("{p:?}"),
    }
    assert_eq!(motion.load.duration_s, 360.0);
    let err = parse_chain(&format!("compress = 2.0\n{BASE}{PIPE}"), Path::new(FILE)).unwrap_err();
    assert_eq!(err.field(), Some("compress"), "{err}");
    // The default 60 s stable window x 0.33 is 19.8 s, which Knative's whole seconds cannot hold.
    let err = parse_chain(&format!("compress = 0.33\n{BASE}{PIPE}"), Path::new(FILE)).unwrap_err();
    assert!(err.to_string().contains("whole seconds"), "{err}");
}

/// `payload_file`: the route's body is the file's bytes (parking's JPEG, starting with the
/// JPEG start-of-image marker); with `payload_bytes` too, missing, or too large it is an error.
#[test]
fn payload_files() {
    let parking = load_chain(&chains_dir().join("parking.toml")).unwrap();
    let jpeg = std::fs::read(chains_dir().join("../payloads/parking.jpg")).unwrap();
    assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    for r in &parking.routes {
        assert_eq!((r.body(), r.payload_bytes), (jpeg.clone(), jpeg.len()), "route {}", r.name);
    }
    let dir = std::env::temp_dir().join(format!("sb-payload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("small.bin"), b"abc").unwrap();
    std::fs::write(dir.join("big.bin"), vec![1u8; 2000]).unwrap();
    let spec = |route: &str| {
        format!(
            "max_body_bytes = 1024\n{BASE}[[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = [\"a\"]\n{route}"
        )
    };
    let file = dir.join("c.toml");
    let c = parse_chain(&spec("payload_file = \"small.bin\"\n"), &file).unwrap();
    assert_eq!((c.routes[0].body(), c.routes[0].payload_bytes), (b"abc".to_vec(), 3));
    for (route, needle) in [
        ("payload_file = \"small.bin\"\npayload_bytes = 3\n", "not both"),
        ("payload_file = \"nope.bin\"\n", "nope.bin"),
        ("payload_file = \"big.bin\"\n", "2000 bytes exceed max_body_bytes (1024)"),
    ] {
        let e = parse_chain(&spec(route), &file).expect_err(route);
        assert_eq!(e.field(), Some("routes[0] \"r\".payload_file"), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
