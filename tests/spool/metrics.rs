//! Metrics end to end with the real binary: after a job, a scrape of `/metrics` (a
//! real HTTP exchange, read with a real Prometheus text parser) counts it for its route
//! and holds its stage durations; the node-exporter textfile has the same families.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

use crate::harness::{Config, Spool, secs};

/// The address the daemon's log says the endpoint listens on.
fn listening(log: &str) -> Option<String> {
    let line = log.lines().find(|line| line.contains("Serving metrics"))?;
    let start = line.find("address=")? + "address=".len();
    let address: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    Some(address.trim_matches('"').to_owned())
}

/// `GET path` over a plain TCP connection; the status line and the body.
fn get(address: &str, path: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(secs(10))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// One sample: its full name (`x_bucket`…), labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One metric family: its type and samples.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: bool,
    samples: Vec<Sample>,
}

/// Reads Prometheus text (exposition format 0.0.4) by its rules, strictly: every
/// sample belongs to a family declared by `# TYPE` (a histogram's as `_bucket`, `_sum`,
/// `_count`), label values are quoted with `\\`, `\"` and `\n` escapes, values are
/// floats. Panics on anything else.
fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_owned()).or_default().help = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "unknown type in {line:?}"
            );
            let family = families.entry(name.to_owned()).or_default();
            assert!(family.kind.is_empty(), "two TYPE lines for {name}");
            family.kind = kind.to_owned();
            continue;
        }
        assert!(!line.starts_with('#'), "not 0.0.4 text: {line:?}");
        let name_end = line.find(['{', ' ']).expect("a sample line");
        let name = &line[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name {name:?}"
        );
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            loop {
                let (start, first) = chars.next().expect("unclosed labels");
                if first == '}' {
                    rest = &inner[start + 1..];
                    break;
                }
                let key_end = inner[start..].find('=').expect("label=") + start;
                let key = inner[start..key_end].trim_start_matches(',').to_owned();
                while chars.peek().is_some_and(|(at, _)| *at < key_end) {
                    chars.next();
                }
                assert_eq!(chars.next().map(|(_, c)| c), Some('='));
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next().expect("unclosed label value").1 {
                        '\\' => match chars.next().expect("escape").1 {
                            'n' => value.push('\n'),
                            c @ ('\\' | '"') => value.push(c),
                            c => panic!("bad escape \\{c} in {line:?}"),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key, value);
                if chars.peek().is_some_and(|(_, c)| *c == ',') {
                    chars.next();
                }
            }
        }
        let value_text = rest.split_whitespace().next().expect("a value");
        let value: f64 = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let family_name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                (families.get(base)?.kind == "histogram").then(|| base.to_owned())
            })
            .unwrap_or_else(|| name.to_owned());
        let family = families
            .get_mut(&family_name)
            .unwrap_or_else(|| panic!("sample {name} without a TYPE line"));
        assert!(
            !family.kind.is_empty(),
            "sample {name} before its TYPE line"
        );
        family.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    for (name, family) in &families {
        assert!(!family.kind.is_empty(), "{name} has HELP but no TYPE");
        assert!(family.help, "{name} has no HELP");
    }
    families
}

/// The counter `chute_jobs_ended_total` for `route` and `status`.
fn ended(families: &BTreeMap<String, Family>, route: &str, status: &str) -> Option<f64> {
    let family = families.get("chute_jobs_ended_total")?;
    assert_eq!(family.kind, "counter");
    family
        .samples
        .iter()
        .find(|sample| {
            sample.labels.get("route").map(String::as_str) == Some(route)
                && sample.labels.get("status").map(String::as_str) == Some(status)
        })
        .map(|sample| sample.value)
}

fn names(families: &BTreeMap<String, Family>) -> BTreeSet<String> {
    families.keys().cloned().collect()
}

#[test]
fn a_scrape_counts_the_job_and_the_textfile_has_the_same_families() {
    let probe = tempfile::tempdir().unwrap();
    let textfile = probe.path().join("chute.prom");
    let config = Config {
        routes: Vec::new(),
        extra: format!(
            "[[routes]]\nname = \"metered\"\npipeline = \"passthrough\"\n\
             \n[metrics]\nlisten = \"127.0.0.1:0\"\ntextfile = \"{}\"\ninterval = \"1s\"\n",
            textfile.display()
        ),
        ..Config::default()
    };
    let spool = Spool::new(&config);
    let daemon = spool.start_daemon();
    let address = listening(&daemon.log())
        .unwrap_or_else(|| panic!("no 'Serving metrics' line:\n{}", daemon.log()));

    let (status, before) = get(&address, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert_eq!(ended(&parse(&before), "metered", "done"), None);

    spool.drop_file("metered", "one.txt", b"one");
    spool.wait_delivered("metered", 1, secs(30));
    let mut scrape = parse(&get(&address, "/metrics").1);
    spool.wait_until(secs(10), "the job is counted", || {
        scrape = parse(&get(&address, "/metrics").1);
        ended(&scrape, "metered", "done").is_some()
    });
    assert_eq!(ended(&scrape, "metered", "done"), Some(1.0));

    let histogram = &scrape["chute_stage_duration_seconds"];
    assert_eq!(histogram.kind, "histogram");
    let passthrough =
        |sample: &&Sample| sample.labels.get("pipeline").map(String::as_str) == Some("passthrough");
    let counts: Vec<_> = histogram
        .samples
        .iter()
        .filter(passthrough)
        .filter(|sample| sample.name == "chute_stage_duration_seconds_count")
        .collect();
    assert!(
        !counts.is_empty(),
        "no passthrough stage durations: {histogram:#?}"
    );
    for count in &counts {
        assert_eq!(count.value, 1.0, "{count:?}");
        let stage = &count.labels["stage"];
        let infinite = histogram.samples.iter().filter(passthrough).find(|sample| {
            sample.name == "chute_stage_duration_seconds_bucket"
                && &sample.labels["stage"] == stage
                && sample.labels.get("le").map(String::as_str) == Some("+Inf")
        });
        assert_eq!(infinite.map(|bucket| bucket.value), Some(1.0), "{stage}");
    }
    for family in ["chute_jobs", "chute_queue_capacity", "chute_claim_hold"] {
        assert!(
            scrape.contains_key(family),
            "{family} missing from {:?}",
            names(&scrape)
        );
    }

    let (status, _) = get(&address, "/other");
    assert!(status.contains("404"), "{status}");

    spool.wait_until(secs(15), "the textfile counts the job", || {
        std::fs::read_to_string(&textfile)
            .is_ok_and(|text| ended(&parse(&text), "metered", "done") == Some(1.0))
    });
    let from_file = parse(&std::fs::read_to_string(&textfile).unwrap());
    assert_eq!(names(&from_file), names(&scrape));
    assert!(!scrape.is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(probe.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != "chute.prom")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert!(Path::new(&textfile).is_file());
    drop(daemon);
}

#[test]
fn a_metrics_address_that_is_not_loopback_is_refused_at_check() {
    let config = Config {
        extra: "[metrics]\nlisten = \"0.0.0.0:9464\"\n".to_owned(),
        ..Config::default()
    };
    let spool = Spool::new(&config);
    let mut command = std::process::Command::new(crate::harness::BIN);
    command.args(["config", "check"]).arg(&spool.config_path);
    let output = crate::harness::run_cli(command, &spool.outside);
    assert_eq!(output.code, Some(2), "{output:?}");
    assert!(
        output.stderr.contains("metrics.listen"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("loopback"), "{}", output.stderr);
}
