//! Loading and layering of settings.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use super::*;

#[test]
fn the_printed_example_is_valid_and_equals_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotline.toml");
    std::fs::write(&path, DEFAULT_CONFIG_TOML).unwrap();
    let from_file = Settings::load_from(Some(&path), []).unwrap();
    let defaults = Settings::default();
    assert_eq!(from_file.server.listen, defaults.server.listen);
    assert_eq!(from_file.database.url, defaults.database.url);
    assert_eq!(from_file.auth.algorithm, defaults.auth.algorithm);
}

#[test]
fn env_overrides_nested_keys_with_types() {
    let env = [
        (
            "HOTLINE_DATABASE__URL".to_owned(),
            "postgres://db/hotline".to_owned(),
        ),
        (
            "HOTLINE_DATABASE__MAX_CONNECTIONS".to_owned(),
            "16".to_owned(),
        ),
        ("HOTLINE_SERVER__GRPC_WEB".to_owned(), "true".to_owned()),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ];
    let s = Settings::load_from(None, env).unwrap();
    assert_eq!(s.database.url, "postgres://db/hotline");
    assert_eq!(s.database.max_connections, 16);
    assert!(s.server.grpc_web);
}

#[test]
fn out_of_range_values_are_rejected() {
    for (key, value) in [
        ("HOTLINE_ROUTING__RETURN_WINDOW", "1000wd"),
        ("HOTLINE_ROUTING__RETURN_WINDOW", "-1h"),
        ("HOTLINE_ROUTING__RETURN_WINDOW", "soon"),
        ("HOTLINE_ROUTING__DESIGNATE_AFTER", "0"),
        ("HOTLINE_CENTRE__UTC_OFFSET_HOURS", "99"),
        ("HOTLINE_ATTACHMENTS__STORE", "ftp://files"),
        ("HOTLINE_ATTACHMENTS__STORE", "local:"),
        ("HOTLINE_ATTACHMENTS__ALLOWED_TYPES", " , "),
        ("HOTLINE_ATTACHMENTS__CHUNK_BYTES", "10"),
        ("HOTLINE_ATTACHMENTS__MAX_BYTES", "0"),
        ("HOTLINE_ATTACHMENTS__SWEEP_INTERVAL_SECS", "0"),
        ("HOTLINE_AUTH__LEEWAY_SECS", "301"),
        ("HOTLINE_AUTH__ISSUER", " "),
        ("HOTLINE_AUTH__AUDIENCE", " "),
    ] {
        let env = [(key.to_owned(), value.to_owned())];
        assert!(Settings::load_from(None, env).is_err(), "{key}={value}");
    }
}

#[test]
fn unknown_keys_are_rejected() {
    let env = [("HOTLINE_DATABASE__URLL".to_owned(), "x".to_owned())];
    assert!(Settings::load_from(None, env).is_err());
}

// ---- Layering, sources and the documented variables ----

use figment::{Figment, providers::Serialized, value::Value};

/// The user documentation; its settings table drives the tests below.
const DOCS: &str = include_str!("../../docs/configuration.md");

/// The marker line above the settings table in [`DOCS`].
const TABLE_MARKER: &str = "<!-- settings table:";

/// One row of the documented settings table.
#[derive(Debug)]
struct Documented {
    variable: String,
    default: String,
    example: String,
}

/// `` `text` `` → `text`.
fn code(cell: &str) -> Option<String> {
    Some(cell.strip_prefix('`')?.strip_suffix('`')?.to_owned())
}

fn documented() -> Vec<Documented> {
    let table = &DOCS[DOCS.find(TABLE_MARKER).expect("settings table marker")..];
    let rows: Vec<Documented> = table
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with("## "))
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 6, "four columns: {line}");
            Documented {
                variable: code(cells[1]).expect(line),
                default: code(cells[2]).unwrap_or_else(|| cells[2].to_owned()),
                example: code(cells[3]).expect(line),
            }
        })
        .collect();
    assert!(rows.len() > 50, "table found: {} rows", rows.len());
    rows
}

/// `HOTLINE_TIME_LIMITS__ENQUIRY__SIGN` → `["time_limits", "enquiry", "sign"]`.
fn key_path(variable: &str) -> Vec<String> {
    variable
        .strip_prefix(ENV_PREFIX)
        .expect(variable)
        .split("__")
        .map(str::to_lowercase)
        .collect()
}

/// The built-in defaults as figment sees them.
fn defaults() -> Figment {
    Figment::from(Serialized::defaults(Settings::default()))
}

/// Dotted keys of every leaf of `value`.
fn leaves(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Dict(_, dict) => {
            for (key, inner) in dict {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&path, inner, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// A default as the docs write it.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(_, s) => s.clone(),
        Value::Empty(..) => "(none)".to_owned(),
        other => serde_json::to_string(other).unwrap(),
    }
}

/// Writes a TOML file that sets `path` to `text`, typed like its default.
fn file_setting(dir: &Path, path: &[String], text: &str) -> std::path::PathBuf {
    let value = match defaults().find_value(&path.join(".")) {
        Ok(Value::Bool(..)) => toml::Value::Boolean(text.parse().unwrap()),
        Ok(Value::Num(..)) => text
            .parse::<i64>()
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::Float(text.parse().unwrap())),
        _ => toml::Value::String(text.to_owned()),
    };
    let (leaf, parents) = path.split_last().unwrap();
    let mut table = toml::Table::from_iter([(leaf.clone(), value)]);
    for parent in parents.iter().rev() {
        table = toml::Table::from_iter([(parent.clone(), toml::Value::Table(table))]);
    }
    let file = dir.join("setting.toml");
    std::fs::write(&file, toml::to_string(&table).unwrap()).unwrap();
    file
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn error(file: Option<&Path>, pairs: &[(&str, &str)]) -> String {
    format!(
        "{:#}",
        Settings::load_from(file, env(pairs)).expect_err("must be rejected")
    )
}

#[test]
fn every_documented_variable_sets_its_setting_like_the_file_key() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = format!("{:?}", Settings::default());
    for row in documented() {
        let var = row.variable.as_str();
        let from_env = Settings::load_from(None, env(&[(var, &row.example)]))
            .unwrap_or_else(|e| panic!("{var}={}: {e:#}", row.example));
        let from_env = format!("{from_env:?}");
        assert_ne!(from_env, defaults, "{var} changed nothing");
        let file = file_setting(dir.path(), &key_path(var), &row.example);
        let from_file = Settings::load_from(Some(&file), [])
            .unwrap_or_else(|e| panic!("{var} as a file key: {e:#}"));
        assert_eq!(from_env, format!("{from_file:?}"), "{var}");
    }
}

#[test]
fn the_table_documents_every_setting_once_with_its_default() {
    let rows = documented();
    let mut variables: Vec<&str> = rows.iter().map(|r| r.variable.as_str()).collect();
    variables.sort_unstable();
    let count = variables.len();
    variables.dedup();
    assert_eq!(variables.len(), count, "a variable is listed twice");

    let defaults = defaults();
    let mut keys = Vec::new();
    leaves(
        "",
        &Value::from(defaults.extract::<figment::value::Dict>().unwrap()),
        &mut keys,
    );
    // Never serialized (a secret), so absent from the defaults tree.
    keys.push("auth.hs256_secret".to_owned());
    keys.push("privacy.keys".to_owned());
    let expected: Vec<String> = keys
        .iter()
        .map(|k| format!("{ENV_PREFIX}{}", k.replace('.', "__").to_uppercase()))
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|v| !variables.contains(&v.as_str()))
        .collect();
    let extra: Vec<&&str> = variables
        .iter()
        .filter(|v| !expected.iter().any(|e| e == *v))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "settings missing from the table: {missing:?}; rows that are no setting: {extra:?}"
    );

    for row in &rows {
        let key = key_path(&row.variable).join(".");
        let default = defaults
            .find_value(&key)
            .map_or_else(|_| "(none)".to_owned(), |v| as_text(&v));
        assert_eq!(row.default, default, "default of {}", row.variable);
        assert_ne!(row.example, default, "example of {}", row.variable);
    }
}

#[test]
fn the_variables_beat_the_file_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hotline.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"0.0.0.0:1\"\n[database]\nurl = \"sqlite://file.db\"\nmax_connections = 3\n\
         [time_limits.enquiry]\nsign = \"2wd\"\nreply = \"9wd\"\n",
    )
    .unwrap();
    let s = Settings::load_from(
        Some(&file),
        env(&[
            ("HOTLINE_DATABASE__URL", "sqlite://env.db"),
            ("HOTLINE_TIME_LIMITS__ENQUIRY__REPLY", "4wd"),
            ("HOTLINE_TIME_LIMITS__HELP__SIGN", "2h"),
        ]),
    )
    .unwrap();
    assert_eq!(s.database.url, "sqlite://env.db", "env beats file");
    assert_eq!(s.database.max_connections, 3, "the file's other keys stay");
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:1");
    assert!(s.database.migrate, "defaults fill the rest");
    let enquiry = s.time_limits.enquiry;
    assert_eq!(
        (enquiry.sign, enquiry.reply),
        (Limit::WorkingDays(2), Limit::WorkingDays(4))
    );
    let help = s.time_limits.help;
    assert_eq!(help.sign, Limit::NaturalMinutes(120));
    assert_eq!(
        help.reply,
        TimeLimitPolicy::default().help.reply,
        "one key of a table"
    );
}

#[test]
fn text_values_are_taken_verbatim() {
    use secrecy::ExposeSecret;
    let secret = " \"0123456789012345678901234567890123\" ";
    let s = Settings::load_from(
        None,
        env(&[
            ("HOTLINE_AUTH__HS256_SECRET", secret),
            ("HOTLINE_AUTH__ISSUER", "12345"),
            ("HOTLINE_AUTH__AUDIENCE", "true"),
            ("HOTLINE_LOG__FILTER", "[x]=debug"),
        ]),
    )
    .unwrap();
    assert_eq!(s.auth.hs256_secret.unwrap().expose_secret(), secret);
    assert_eq!(s.auth.issuer, "12345");
    assert_eq!(s.auth.audience, "true");
    assert_eq!(s.log.filter, "[x]=debug");
}

#[test]
fn non_setting_variables_are_not_read_as_settings() {
    let mut pairs = vec![("HOTLINE_CONFIG", "deploy/hotline.example.toml")];
    pairs.extend([("RUST_LOG", "debug"), ("hotline_database__url", "x")]);
    let s = Settings::load_from(None, env(&pairs)).unwrap();
    assert_eq!(s.database.url, Settings::default().database.url);
    for name in NOT_SETTINGS {
        assert!(name.starts_with(ENV_PREFIX), "{name}");
    }
}

#[test]
fn unknown_keys_name_the_variable_or_the_file_and_line() {
    let err = error(None, &[("HOTLINE_DATABASE__URLL", "x")]);
    assert!(
        err.starts_with(
            "unknown setting `database.urll` (from environment variable HOTLINE_DATABASE__URLL)"
        ),
        "{err}"
    );
    assert!(err.contains("url, max_connections, migrate"), "{err}");
    // A misspelt section is the unknown key.
    let err = error(None, &[("HOTLINE_SERVR__LISTEN", "x")]);
    assert!(
        err.starts_with(
            "unknown setting `servr` (from environment variable HOTLINE_SERVR__LISTEN)"
        ),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.toml");
    std::fs::write(
        &file,
        "# comment\n[database]\nurl = \"sqlite://a.db\"\nurll = \"x\"\n",
    )
    .unwrap();
    let err = error(Some(&file), &[]);
    let expected = format!(
        "unknown setting `database.urll` (from file {}, line 4)",
        file.display()
    );
    assert!(err.starts_with(&expected), "{err}");
}

#[test]
fn type_and_range_errors_name_the_key_and_its_source() {
    for (var, value, expected) in [
        (
            "HOTLINE_DATABASE__MAX_CONNECTIONS",
            "lots",
            "`database.max_connections`: invalid type",
        ),
        (
            "HOTLINE_SERVER__GRPC_WEB",
            "yes",
            "`server.grpc_web`: invalid type",
        ),
        ("HOTLINE_SERVER__LISTEN", "localhost", "`server.listen`"),
        (
            "HOTLINE_AUTH__ALGORITHM",
            "HS512",
            "`auth.algorithm`: unknown value `HS512`",
        ),
        (
            "HOTLINE_ROUTING__RETURN_WINDOW",
            "soon",
            "`routing.return_window`: \"soon\"",
        ),
        (
            "HOTLINE_ROUTING__RETURN_WINDOW",
            "1000wd",
            "`routing.return_window`",
        ),
        (
            "HOTLINE_ROUTING__DESIGNATE_AFTER",
            "0",
            "`routing.designate_after`: must be between 1 and 100",
        ),
        (
            "HOTLINE_CENTRE__UTC_OFFSET_HOURS",
            "99",
            "`centre.utc_offset_hours`: must be between",
        ),
        (
            "HOTLINE_CALENDAR__WORK_START",
            "9am",
            "`calendar.work_start`: must look like 09:00",
        ),
        (
            "HOTLINE_CALENDAR__WORK_START",
            "18:00",
            "`calendar.work_start`: must be before work_end",
        ),
        (
            "HOTLINE_METRICS__RANKING__ON_TIME",
            "-1",
            "`metrics.ranking.on_time`: must be",
        ),
        ("HOTLINE_LOG__FORMAT", "jsno", "`log.format`: must be"),
        (
            "HOTLINE_TIME_LIMITS__MAX_EXTENSION_DAYS",
            "61",
            "`time_limits.max_extension_days`",
        ),
        (
            "HOTLINE_TELEMETRY__OTLP_ENDPOINT",
            "otel-collector:4317",
            "`telemetry.otlp_endpoint`: must be an http:// URL",
        ),
        (
            "HOTLINE_TELEMETRY__OTLP_ENDPOINT",
            "https://collector.example:4317",
            "`telemetry.otlp_endpoint`: must be an http:// URL",
        ),
        (
            "HOTLINE_TELEMETRY__SAMPLE_RATIO",
            "1.5",
            "`telemetry.sample_ratio`: must be between 0.0 and 1.0",
        ),
    ] {
        let err = error(None, &[(var, value)]);
        assert!(err.starts_with("invalid setting "), "{var}={value}: {err}");
        assert!(err.contains(expected), "{var}={value}: {err}");
        assert!(
            err.ends_with(&format!("(from environment variable {var})")),
            "{var}={value}: {err}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.toml");
    std::fs::write(&file, "[centre]\nutc_offset_hours = 99\n").unwrap();
    let err = error(Some(&file), &[]);
    assert!(
        err.ends_with(&format!("(from file {}, line 2)", file.display())),
        "{err}"
    );
    // The variable, the later layer, is the one to blame.
    let err = error(Some(&file), &[("HOTLINE_CENTRE__UTC_OFFSET_HOURS", "15")]);
    assert!(err.contains("HOTLINE_CENTRE__UTC_OFFSET_HOURS"), "{err}");
}

#[test]
fn a_missing_or_malformed_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    assert!(error(Some(&missing), &[]).starts_with("reading config file"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[database\n").unwrap();
    let err = error(Some(&bad), &[]);
    assert!(err.contains("bad.toml") && err.contains("line 1"), "{err}");
}
